// Readiness of the user container, as Knative's queue-proxy decides it (pkg/queue/readiness/probe.go).
//
// A check runs every configured probe in parallel; all must pass. Per probe:
// - periodSeconds > 0: one attempt with timeoutSeconds; thresholds are left to the kubelet, which probes
//   the sidecar.
// - periodSeconds == 0 ("aggressive", the default Knative gives a container without a probe): an attempt
//   every 50 ms, each bounded by 100 ms, until successThreshold consecutive successes, or not ready after
//   10 s. The success counter lives on the probe and survives across checks (only a failure resets it),
//   so once the container was ready a check normally passes with one attempt.
// Checks are single-flight: concurrent callers share the check in progress, so a burst of kubelet,
// activator and autoscaler probes costs one connection to the user container.

import type { Logger } from '../shared/logger.ts'
import { realClock, type Clock } from '../shared/clock.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'
import { createProbeTarget, type ProbeOutcome, type ProbeTarget } from './readiness-probe-attempt.ts'
import type { ProbeSpec } from './readiness-probe-spec.ts'

/** Knative `retryInterval`: spacing of aggressive attempts (measured start to start, like a ticker). */
export const AGGRESSIVE_RETRY_INTERVAL_MS = 50
/** Knative `aggressiveProbeTimeout`: the timeout of one aggressive attempt. */
export const AGGRESSIVE_PROBE_TIMEOUT_MS = 100
/** Knative `PollTimeout`: how long one aggressive check polls before it reports not ready. */
export const AGGRESSIVE_POLL_TIMEOUT_MS = 10_000

export interface ReadinessProberOptions {
  logger: Logger
  /** Monotonic time for the aggressive poll window; default realClock. */
  clock?: Clock
  /**
   * Attempt timeouts and the pauses between attempts; default realTimers. They are unref'd, and need not
   * keep the process alive: the sidecar waits for readiness only once its servers listen (listen()), and
   * an attempt in flight holds its own socket.
   */
  timers?: Timers
  /** Aggressive poll window; default AGGRESSIVE_POLL_TIMEOUT_MS (tests shorten it). */
  pollTimeoutMs?: number
}

/** Per-probe state: the target and Knative's consecutive-success counter. */
class ProbeState {
  readonly spec: ProbeSpec
  readonly target: ProbeTarget
  successCount: number
  constructor (spec: ProbeSpec) {
    this.spec = spec
    this.target = createProbeTarget(spec)
    this.successCount = 0
  }
}

/** A pause between aggressive attempts, cancellable by close(). */
class Pause {
  handle: TimerHandle | null
  readonly resolve: () => void
  constructor (resolve: () => void) {
    this.handle = null
    this.resolve = resolve
  }
}

function abortError (message: string): DOMException {
  return new DOMException(message, 'AbortError')
}

export class ReadinessProber {
  readonly #probes: ProbeState[]
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #timers: Timers
  readonly #pollTimeoutMs: number
  /** Aborted by close(): ends attempts in flight and wakes waiters. */
  readonly #closing: AbortController
  /** Pauses in progress; at most one per probe. */
  readonly #pauses: Set<Pause>
  #inflight: Promise<boolean> | null
  #ready: boolean
  /** Last result that was logged; null before the first check. */
  #loggedReady: boolean | null
  #closed: boolean

  constructor (specs: readonly ProbeSpec[], opts: ReadinessProberOptions) {
    this.#probes = specs.map((spec) => new ProbeState(spec))
    this.#logger = opts.logger
    this.#clock = opts.clock ?? realClock
    this.#timers = opts.timers ?? realTimers
    this.#pollTimeoutMs = opts.pollTimeoutMs ?? AGGRESSIVE_POLL_TIMEOUT_MS
    this.#closing = new AbortController()
    this.#pauses = new Set()
    this.#inflight = null
    // No probe configured (empty SERVING_READINESS_PROBE): always ready, as Knative.
    this.#ready = this.#probes.length === 0
    this.#loggedReady = null
    this.#closed = false
  }

  /** The result of the last finished check (false before the first, true when no probe is configured). */
  get isReady (): boolean {
    return this.#ready
  }

  /** Runs a check, or joins the one in progress. Never rejects; false after close(). */
  check (): Promise<boolean> {
    if (this.#inflight !== null) return this.#inflight
    if (this.#closed) return Promise.resolve(false)
    if (this.#probes.length === 0) return Promise.resolve(true)
    const inflight = this.#runCheck()
    this.#inflight = inflight
    return inflight
  }

  /**
   * Resolves once a check passes; runs checks back to back (aggressive probes poll every 50 ms inside a
   * check, so readiness is seen within about 50 ms of the container starting to listen). Rejects with
   * `signal.reason` when `signal` aborts, and with an AbortError when the prober is closed.
   */
  async waitUntilReady (signal?: AbortSignal): Promise<void> {
    if (this.#probes.length === 0) return
    const closing = this.#closing.signal
    const stop = signal === undefined ? closing : AbortSignal.any([signal, closing])
    const { promise: stopped, reject } = Promise.withResolvers<never>()
    // `stopped` only ever rejects; keep that from being reported as unhandled when we return first.
    stopped.catch(() => {})
    const onStop = (): void => { reject(this.#stopReason(signal)) }
    stop.addEventListener('abort', onStop, { once: true })
    try {
      while (true) {
        if (stop.aborted) throw this.#stopReason(signal)
        if (await Promise.race([this.check(), stopped])) return
        // A failed check may have been quick (a non-aggressive probe refused at once): don't spin.
        await Promise.race([this.#pause(AGGRESSIVE_RETRY_INTERVAL_MS), stopped])
      }
    } finally {
      stop.removeEventListener('abort', onStop)
    }
  }

  /** Stops all probing: attempts in flight are abandoned, pauses cancelled, no timer is left behind. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#closing.abort(abortError('readiness prober closed'))
    for (const pause of this.#pauses) {
      pause.handle?.cancel()
      pause.resolve()
    }
    this.#pauses.clear()
  }

  #stopReason (signal: AbortSignal | undefined): unknown {
    if (signal !== undefined && signal.aborted) return signal.reason
    return this.#closing.signal.reason
  }

  async #runCheck (): Promise<boolean> {
    let outcomes: ProbeOutcome[]
    try {
      outcomes = await Promise.all(this.#probes.map((probe) => this.#probe(probe)))
    } finally {
      this.#inflight = null
    }
    if (this.#closed) return false
    let failure: ProbeOutcome = null
    for (const outcome of outcomes) {
      if (outcome !== null) {
        failure = outcome
        break
      }
    }
    const ready = failure === null
    this.#ready = ready
    if (ready !== this.#loggedReady) {
      this.#loggedReady = ready
      if (ready) this.#logger.info('user container ready')
      else this.#logger.warn({ reason: failure }, 'user container not ready')
    }
    return ready
  }

  /** One probe's part of a check. */
  async #probe (probe: ProbeState): Promise<ProbeOutcome> {
    const signal = this.#closing.signal
    if (probe.spec.periodMs > 0) return probe.target.attempt(probe.spec.timeoutMs, this.#timers, signal)

    const startMs = this.#clock.nowMs()
    let failures = 0
    let lastFailure: ProbeOutcome = null
    while (true) {
      const attemptStartMs = this.#clock.nowMs()
      const outcome = await probe.target.attempt(AGGRESSIVE_PROBE_TIMEOUT_MS, this.#timers, signal)
      if (this.#closed) return 'prober closed'
      if (outcome === null) {
        probe.successCount++
        if (probe.successCount >= probe.spec.successThreshold) return null
      } else {
        // Failures are expected while the container starts; only the last one is reported, and only if
        // the whole poll window passes without readiness.
        probe.successCount = 0
        failures++
        lastFailure = outcome
      }
      const nowMs = this.#clock.nowMs()
      if (nowMs - startMs >= this.#pollTimeoutMs) {
        return lastFailure === null
          ? `${probe.target.description}: fewer than ${probe.spec.successThreshold} consecutive successes within ${this.#pollTimeoutMs} ms`
          : `aggressive probe error (failed ${failures} times): ${lastFailure}`
      }
      await this.#pause(attemptStartMs + AGGRESSIVE_RETRY_INTERVAL_MS - nowMs)
      if (this.#closed) return 'prober closed'
    }
  }

  #pause (ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve()
    return new Promise((resolve) => {
      const pause = new Pause(resolve)
      pause.handle = this.#timers.setTimeout(() => {
        this.#pauses.delete(pause)
        resolve()
      }, Math.max(0, ms))
      this.#pauses.add(pause)
    })
  }
}
