import type { ObservabilityConfig } from '../config/observability-config.ts'
import { parseObservabilityConfigMap, readObservabilityDir } from '../config/observability-configmap.ts'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'

// The activator's config-observability, mounted as a volume (`--observability-config-dir`): re-read
// on a fixed interval and applied when a key changed, as Knative's activator applies ConfigMap
// updates (cmd/activator updateRequestLogFromConfigMap). An update that does not parse is logged
// and the current settings stay, as there. The kubelet refreshes a mounted ConfigMap within about
// a minute, so a 10 s interval adds little to that.

export const OBSERVABILITY_RELOAD_MS = 10_000

export interface ObservabilityDirWatcherOptions {
  dir: string
  intervalMs: number
  /** What the directory held at start (already parsed and applied by the caller). */
  initial: ReadonlyMap<string, string>
  apply (config: ObservabilityConfig): void
  logger: Logger
  timers?: Timers
}

export class ObservabilityDirWatcher {
  readonly #o: ObservabilityDirWatcherOptions
  readonly #timers: Timers
  #last: string
  #tick: TimerHandle | null = null

  constructor (options: ObservabilityDirWatcherOptions) {
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
      data = readObservabilityDir(o.dir)
    } catch (err) {
      o.logger.error({ err, dir: o.dir }, 'cannot read config-observability; keeping the current settings')
      return false
    }
    const print = fingerprint(data)
    if (print === this.#last) return false
    const problems: string[] = []
    const config = parseObservabilityConfigMap(data, problems)
    if (problems.length > 0) {
      // Remembered, so a bad update is reported once, not on every tick.
      this.#last = print
      o.logger.error({ dir: o.dir, problems }, 'config-observability update rejected; keeping the current settings')
      return false
    }
    this.#last = print
    o.apply(config)
    o.logger.info({ dir: o.dir, enableRequestLog: config.enableRequestLog, template: config.requestLogTemplateText }, 'config-observability updated')
    return true
  }
}

function fingerprint (data: ReadonlyMap<string, string>): string {
  return JSON.stringify([...data.entries()])
}
