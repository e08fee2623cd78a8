import type { Logger } from '../shared/logger.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'

export interface DrainerOptions {
  /** Quiet period: drained once no request arrived for this long, ms. */
  quietMs: number
  /** Upper bound on the whole drain (requests that keep arriving cannot hold it open forever), ms. */
  maxMs: number
  logger: Logger
  now: () => number
  /** Timer functions (default: real ones); tests pass ManualTimers driven by the same clock as `now`. */
  timers?: Timers
}

/**
 * Knative's Drainer (knative.dev/pkg network/handlers/drain.go): once draining, probes fail so
 * the pod leaves the endpoints, while traffic that still arrives (routing lags) is served. The
 * drain completes after a quiet period with no request; each request restarts the period, up
 * to `maxMs`. One timer for the whole process, refreshed instead of re-created.
 */
export class Drainer {
  #isDraining = false
  #startedMs = 0
  #lastRequestMs = 0
  #timer: TimerHandle | null = null
  #done: Promise<void> | null = null
  #resolve: (() => void) | null = null
  readonly #opts: DrainerOptions
  readonly #timers: Timers
  readonly #onTimer: () => void

  constructor (opts: DrainerOptions) {
    this.#opts = opts
    this.#timers = opts.timers ?? realTimers
    this.#onTimer = () => { this.#check() }
  }

  get isDraining (): boolean { return this.#isDraining }

  /** A non-probe request arrived. Hot path: callers check `isDraining` first. */
  touch (): void {
    this.#lastRequestMs = this.#opts.now()
  }

  /** Starts draining (idempotent); resolves when the quiet period has passed. */
  drain (): Promise<void> {
    if (this.#done !== null) return this.#done
    this.#isDraining = true
    const now = this.#opts.now()
    this.#startedMs = now
    this.#lastRequestMs = now
    this.#opts.logger.info({ quietMs: this.#opts.quietMs, maxMs: this.#opts.maxMs }, 'draining')
    this.#done = new Promise<void>((resolve) => { this.#resolve = resolve })
    this.#arm(this.#opts.quietMs)
    return this.#done
  }

  #arm (ms: number): void {
    this.#timer = this.#timers.setTimeout(this.#onTimer, Math.max(0, ms))
  }

  #check (): void {
    const now = this.#opts.now()
    const quietLeft = this.#lastRequestMs + this.#opts.quietMs - now
    const maxLeft = this.#startedMs + this.#opts.maxMs - now
    if (quietLeft > 0 && maxLeft > 0) {
      this.#arm(Math.min(quietLeft, maxLeft))
      return
    }
    this.#timer = null
    this.#opts.logger.info({ drainedAfterMs: Math.round(now - this.#startedMs), quiet: quietLeft <= 0 }, 'drained')
    const resolve = this.#resolve
    this.#resolve = null
    if (resolve !== null) resolve()
  }

  /** Back to serving (a preStop hook that was not followed by SIGTERM). */
  reset (): void {
    this.#timer?.cancel()
    this.#timer = null
    this.#isDraining = false
    const resolve = this.#resolve
    this.#resolve = null
    this.#done = null
    if (resolve !== null) resolve()
    this.#opts.logger.info('drain reset')
  }

  close (): void {
    this.#timer?.cancel()
    this.#timer = null
  }
}
