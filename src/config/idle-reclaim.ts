import { intOf, type OptionSpec, type OptionValue } from './options.ts'

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
  help: 'after a burst (>= 1,000 requests), once nothing was in flight for this long: one memory-reducing GC, so RSS returns to its idle size; 0 = off',
}

/** The option in ms (0 = off). */
export function idleReclaimMsOf (values: Map<string, OptionValue>): number {
  return intOf(values, IDLE_RECLAIM_OPTION.flag, 60) * 1000
}
