import { join } from 'node:path'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'

// A Knative ConfigMap mounted as a directory (one file per key), re-read on a fixed interval and
// applied when a key changed, as Knative's components apply their ConfigMap watches
// (config-observability: the request log; config-logging: the log level). An update that does not
// parse is logged once and the current settings stay, as Knative does. The kubelet refreshes a
// mounted ConfigMap within about a minute, so a 10 s interval adds little to that.

export const CONFIG_DIR_RELOAD_MS = 10_000

/** Reads `keys` from a mounted ConfigMap directory; a missing file is a missing key, a missing directory an error. */
export function readConfigDir (dir: string, keys: readonly string[]): Map<string, string> {
  // A directory that is not there is an error (a mistyped flag), a key that is not there is not.
  // node:fs by getBuiltinModule, not its ESM facade (which loads fs streams and fs/promises at start; issue 12).
  const { readFileSync, statSync } = process.getBuiltinModule('node:fs')
  if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`)
  const data = new Map<string, string>()
  for (const key of keys) {
    let text: string
    try {
      text = readFileSync(join(dir, key), 'utf8')
    } catch (err) {
      if (isNotFound(err)) continue
      throw err
    }
    data.set(key, text)
  }
  return data
}

export interface ConfigDirWatcherOptions<T> {
  /** The ConfigMap's name, for the log lines. */
  name: string
  dir: string
  keys: readonly string[]
  intervalMs: number
  /** What the directory held at start (already parsed and applied by the caller). */
  initial: ReadonlyMap<string, string>
  /** Parses the keys; each problem is one line naming its key. */
  parse (data: ReadonlyMap<string, string>, problems: string[]): T
  apply (value: T): void
  logger: Logger
  timers?: Timers
}

export class ConfigDirWatcher<T> {
  readonly #o: ConfigDirWatcherOptions<T>
  readonly #timers: Timers
  #last: string
  #tick: TimerHandle | null = null

  constructor (options: ConfigDirWatcherOptions<T>) {
    this.#o = options
    this.#timers = options.timers ?? realTimers
    this.#last = fingerprint(options.initial)
  }

  start (): void {
    if (this.#tick !== null) return
    this.#tick = this.#timers.setInterval(() => { this.check() }, this.#o.intervalMs)
  }

  stop (): void {
    if (this.#tick !== null) { this.#tick.cancel(); this.#tick = null }
  }

  /** Re-reads the directory; true when new settings were applied. Never throws (failures are logged). */
  check (): boolean {
    const o = this.#o
    let data: Map<string, string>
    try {
      data = readConfigDir(o.dir, o.keys)
    } catch (err) {
      o.logger.error({ err, dir: o.dir }, `cannot read ${o.name}; keeping the current settings`)
      return false
    }
    const print = fingerprint(data)
    if (print === this.#last) return false
    // Remembered either way, so a bad update is reported once, not on every tick.
    this.#last = print
    const problems: string[] = []
    const value = o.parse(data, problems)
    if (problems.length > 0) {
      o.logger.error({ dir: o.dir, problems }, `${o.name} update rejected; keeping the current settings`)
      return false
    }
    o.apply(value)
    o.logger.info({ dir: o.dir, keys: Object.fromEntries(data) }, `${o.name} updated`)
    return true
  }
}

function fingerprint (data: ReadonlyMap<string, string>): string {
  return JSON.stringify([...data.entries()])
}

function isNotFound (err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && (err.code === 'ENOENT' || err.code === 'ENOTDIR')
}
