import { PROBE_FAILED_MESHLIKE, PROBE_READY, type EndpointProbe, type ProbeVerdict, type VerdictProbe } from '../proxy/endpoint-probe.ts'
import { realClock, type Clock } from '../shared/clock.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'

// Probes one endpoint until it is ready, then stops (Knative does not re-probe healthy pods on a timer;
// a connect failure restarts probing). Knative probes every 200 ms with a 300 ms timeout. We start
// faster, because the first success ends a cold start: 50 ms apart, then the gap grows by `factor` per
// failure up to `maxIntervalMs`, so a pod that never comes up costs about one probe a second.
// A probe to a sidecar whose app is still starting is a long poll: the sidecar runs its own aggressive
// readiness check (every 50 ms) and answers as soon as the app is ready, or when our timeout cuts it.
//
// The gap is measured from the start of one attempt to the start of the next (a ticker), so a slow
// failing attempt is followed at once by the next one.

export interface ProberSchedule {
  /** Gap before the second attempt, ms (the first runs at once). */
  readonly initialIntervalMs: number
  /** Largest gap, ms. */
  readonly maxIntervalMs: number
  /** Growth of the gap per failed attempt. */
  readonly factor: number
  /** Timeout of one attempt, ms (Knative probeTimeout 300 ms). */
  readonly timeoutMs: number
}

export const DEFAULT_PROBER_SCHEDULE: ProberSchedule = Object.freeze({
  initialIntervalMs: 50,
  maxIntervalMs: 1_000,
  factor: 1.2,
  timeoutMs: 300,
})

export interface ProberListener {
  /** The endpoint answered the probe correctly. Probing has stopped. */
  onProbeSuccess (prober: EndpointProber): void
  /**
   * An attempt failed, and how (mesh-compatibility-mode auto reads it; a probe without probeVerdict
   * reports every failure as mesh-like). Probing goes on.
   */
  onProbeFailure? (prober: EndpointProber, verdict: ProbeVerdict): void
}

export class EndpointProber {
  readonly dest: string
  readonly #probe: EndpointProbe
  readonly #listener: ProberListener
  readonly #schedule: ProberSchedule
  readonly #timers: Timers
  readonly #clock: Clock
  readonly #onTimer: () => void
  /** The probe, when it can say why an attempt failed. */
  readonly #verdictProbe: VerdictProbe | null
  #timer: TimerHandle | null = null
  #intervalMs: number
  #attemptStartMs = 0
  /** Bumped by start/stop, so the result of an attempt from an earlier run is ignored. */
  #generation = 0
  #isRunning = false
  #isAttempting = false
  /** Attempts since the last start (tests, logs). */
  attempts = 0

  constructor (dest: string, probe: EndpointProbe, listener: ProberListener, schedule: ProberSchedule = DEFAULT_PROBER_SCHEDULE,
    timers: Timers = realTimers, clock: Clock = realClock) {
    this.dest = dest
    this.#probe = probe
    this.#listener = listener
    this.#schedule = schedule
    this.#timers = timers
    this.#clock = clock
    this.#intervalMs = schedule.initialIntervalMs
    this.#verdictProbe = hasVerdicts(probe) ? probe : null
    this.#onTimer = () => {
      this.#timer = null
      this.#attempt()
    }
  }

  get isRunning (): boolean { return this.#isRunning }

  /** Starts probing from the aggressive end of the schedule (no-op while already running). */
  start (): void {
    if (this.#isRunning) return
    this.#isRunning = true
    this.#generation++
    this.#intervalMs = this.#schedule.initialIntervalMs
    this.attempts = 0
    this.#attempt()
  }

  stop (): void {
    if (!this.#isRunning) return
    this.#isRunning = false
    this.#generation++
    this.#isAttempting = false
    if (this.#timer !== null) this.#timer.cancel()
    this.#timer = null
  }

  #attempt (): void {
    if (!this.#isRunning || this.#isAttempting) return
    this.#isAttempting = true
    this.attempts++
    this.#attemptStartMs = this.#clock.nowMs()
    const generation = this.#generation
    const verdictProbe = this.#verdictProbe
    if (verdictProbe !== null) {
      verdictProbe.probeVerdict(this.dest, this.#schedule.timeoutMs).then((v) => { this.#onResult(generation, v) }, () => { this.#onResult(generation, PROBE_FAILED_MESHLIKE) })
      return
    }
    this.#probe.probe(this.dest, this.#schedule.timeoutMs).then((ok) => { this.#onResult(generation, ok ? PROBE_READY : PROBE_FAILED_MESHLIKE) }, () => { this.#onResult(generation, PROBE_FAILED_MESHLIKE) })
  }

  #onResult (generation: number, verdict: ProbeVerdict): void {
    if (generation !== this.#generation) return
    this.#isAttempting = false
    if (verdict === PROBE_READY) {
      this.#isRunning = false
      this.#generation++
      this.#listener.onProbeSuccess(this)
      return
    }
    this.#listener.onProbeFailure?.(this, verdict)
    // The listener may have stopped (or restarted) probing.
    if (generation !== this.#generation) return
    const elapsedMs = this.#clock.nowMs() - this.#attemptStartMs
    const waitMs = Math.max(0, this.#intervalMs - elapsedMs)
    this.#intervalMs = Math.min(this.#schedule.maxIntervalMs, this.#intervalMs * this.#schedule.factor)
    this.#timer = this.#timers.setTimeout(this.#onTimer, waitMs)
  }
}

function hasVerdicts (probe: EndpointProbe): probe is EndpointProbe & VerdictProbe {
  return 'probeVerdict' in probe && typeof probe.probeVerdict === 'function'
}
