import { intOf, strOf, type OptionSpec, type OptionValue } from './options.ts'

// --idle-reclaim-seconds, for both modes: how long a proxy must be idle before it gives back the memory
// a burst grew (src/server/idle-reclaimer.ts); 0 turns it off. 60 s, Knative's default stable window: a
// revision idle that long is scaling down. Not shorter, because giving the young generation back has a
// price: the next burst runs with a small one until V8 grows it again (docs/reliability.md: the
// sidecar bench with a collection before each round against one without).

export const IDLE_RECLAIM_OPTION: OptionSpec = {
  flag: 'idle-reclaim-seconds',
  env: '',
  kind: 'int',
  min: 0,
  max: 86_400,
  default: '60',
  help: 'after a burst (>= 1,000 requests), once nothing was in flight for this long: one memory-reducing GC, so RSS returns to its idle size (the sidecar also collects once when quiet 0.5-1 s after start); 0 = off',
}

/** glibc's malloc_trim after the reclaimer's GC, through the addon scripts/build-native.mjs builds. */
export const MALLOC_TRIM_ADDON_OPTION: OptionSpec = {
  flag: 'malloc-trim-addon',
  env: 'SLUICE_MALLOC_TRIM_ADDON',
  kind: 'string',
  default: '',
  help: 'path of malloc-trim.node (scripts/build-native.mjs): after the idle reclaimer\'s GC, glibc\'s malloc_trim(0) returns the malloc heap\'s free pages too; empty = GC only',
}

/** The addon's path ('' = none); a path that is not a file is a problem. */
export function mallocTrimAddonOf (values: Map<string, OptionValue>, problems: string[]): string {
  const path = strOf(values, MALLOC_TRIM_ADDON_OPTION.flag)
  if (path === '') return ''
  try {
    // node:fs by getBuiltinModule, not its ESM facade: importing that loads fs/promises, readline and
    // fs streams at every start (~2 ms of the sidecar's ready time; issue 12, token-file.ts).
    if (process.getBuiltinModule('node:fs').statSync(path).isFile()) return path
  } catch { /* reported below */ }
  problems.push(`config: --malloc-trim-addon / SLUICE_MALLOC_TRIM_ADDON must name the built malloc-trim.node, got ${JSON.stringify(path)}`)
  return ''
}

/** The option in ms (0 = off). */
export function idleReclaimMsOf (values: Map<string, OptionValue>): number {
  return intOf(values, IDLE_RECLAIM_OPTION.flag, 60) * 1000
}
