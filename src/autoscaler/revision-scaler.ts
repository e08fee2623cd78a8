// Everything the autoscaler keeps for one revision, and the loop around it: Knative's per-revision
// scalerRunner (multiscaler.go) plus the KPA reconciler's scale step (kpa.go, scaler.go), without
// Kubernetes. The pure rules live elsewhere (kpa-decider.ts, scale-bounds.ts, pa-status.ts); this
// file holds the state they read and write back, and talks to the actuator.
//
//   stats (push, scrape) -> MetricCollector -> tick(): KpaDecider.scale -> reconcile():
//     decideScale (bounds, scale-to-zero rules) -> actuator.setScale -> computeActiveState
//
// reconcile() runs after each tick, when the actuator reports changed pods, when a scale-to-zero
// rule asks to be re-checked later (requeueAfterMs), and when the activator probe answers.

import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { TimerHandle, Timers } from '../shared/timers.ts'
import type { Actuator, RevisionId } from './actuator.ts'
import type { AutoscalerConfig } from './autoscaler-config.ts'
import type { DeciderSpec } from './decider-spec.ts'
import { HistoryRing } from './history-ring.ts'
import { initialExcessBurstCapacity, KpaDecider, type ScaleResult } from './kpa-decider.ts'
import { MetricCollector, NO_DATA, type CollectorStat } from './metric-collector.ts'
import { activatorInPath, computeActiveState } from './pa-status.ts'
import {
  ACTIVATION_TIMEOUT_BUFFER_MS, ACTIVATOR_PROBE_PERIOD_MS, ACTIVATOR_PROBE_TIMEOUT_MS,
  DEFAULT_PROGRESS_DEADLINE_MS, decideScale, SCALE_UNKNOWN, type ActiveState,
} from './scale-bounds.ts'
import type { ScrapeOutcome, ScrapePod } from './scraper.ts'

/** Checks that the activator answers for the revision before its last pod goes (Knative's activatorProbe). */
export type ActivatorProbe = (revision: RevisionId) => Promise<boolean>

/** One point of a revision's history (every tick). */
export interface RevisionSample {
  /** Wall-clock time (ms since the epoch), for display. */
  readonly atMs: number
  /** The scale applied or held (-1 unknown). */
  readonly desiredPods: number
  readonly readyPods: number
  readonly stableConcurrency: number
  readonly panicConcurrency: number
  readonly stableRps: number
  readonly panicRps: number
  readonly panicMode: boolean
}

export interface ObservedMetrics {
  readonly stableConcurrency: number
  readonly panicConcurrency: number
  readonly stableRps: number
  readonly panicRps: number
}

/** What GET /status reports per revision. */
export interface RevisionStatus {
  readonly namespace: string
  readonly name: string
  readonly containerConcurrency: number
  readonly scalingMetric: DeciderSpec['scalingMetric']
  /** Metric value per pod the KPA aims for. */
  readonly target: number
  /** The scale the autoscaler wants after bounds and scale-to-zero rules (-1 unknown). */
  readonly desiredPods: number
  /** The decider's raw answer, before bounds (-1 before it has data). */
  readonly deciderPods: number
  /** The last count given to the actuator (null: none yet). */
  readonly requestedPods: number | null
  readonly readyPods: number
  readonly pendingPods: number
  readonly terminatingPods: number
  /** Window averages now; null when nothing was recorded in the stable window. */
  readonly observed: ObservedMetrics | null
  readonly panicMode: boolean
  readonly activeState: ActiveState
  readonly activeStateForMs: number
  readonly activatorInPath: boolean
  readonly excessBurstCapacity: number
  readonly stableWindowMs: number
  readonly panicWindowMs: number
  /** Wall-clock ms of the last stat received or scraped, null if none. */
  readonly lastStatAtMs: number | null
  readonly history: readonly RevisionSample[]
}

export interface RevisionScalerOptions {
  readonly revision: RevisionId
  readonly containerConcurrency: number
  readonly spec: DeciderSpec
  readonly config: AutoscalerConfig
  readonly actuator: Actuator
  readonly clock: Clock
  readonly timers: Timers
  readonly logger: Logger
  readonly activatorProbe: ActivatorProbe
  /** The activator is in every request's path (local mode): Knative's SKS Proxy mode, for good. */
  readonly activatorAlwaysInPath: boolean
  readonly historySize: number
}

export class RevisionScaler {
  readonly revision: RevisionId
  readonly #actuator: Actuator
  readonly #clock: Clock
  readonly #timers: Timers
  readonly #logger: Logger
  readonly #probe: ActivatorProbe
  readonly #alwaysInPath: boolean
  readonly #history: HistoryRing<RevisionSample>
  #config: AutoscalerConfig
  #containerConcurrency: number
  #spec: DeciderSpec
  readonly #collector: MetricCollector
  readonly #decider: KpaDecider
  /** The last valid decider result (null before the first). */
  #latest: ScaleResult | null
  #want: number
  #activeState: ActiveState
  #activeSinceMs: number
  #scaleTargetInitialized: boolean
  #inPath: boolean
  #inPathSinceMs: number | null
  #activatorReady: boolean
  #probing: boolean
  #requeue: TimerHandle | null
  #requeueAtMs: number
  #scraping: boolean
  #lastStatAtMs: number | null
  #closed: boolean

  constructor (o: RevisionScalerOptions) {
    this.revision = o.revision
    this.#actuator = o.actuator
    this.#clock = o.clock
    this.#timers = o.timers
    this.#logger = o.logger
    this.#probe = o.activatorProbe
    this.#alwaysInPath = o.activatorAlwaysInPath
    this.#history = new HistoryRing(o.historySize)
    this.#config = o.config
    this.#containerConcurrency = o.containerConcurrency
    this.#spec = o.spec
    this.#collector = new MetricCollector({
      stableWindowMs: o.spec.stableWindowMs,
      panicWindowMs: o.spec.panicWindowMs,
      aggregationAlgorithm: o.spec.aggregationAlgorithm,
      hasScrapeTarget: o.spec.targetBurstCapacity !== -1,
    })
    const nowMs = o.clock.nowMs()
    this.#decider = new KpaDecider({
      spec: o.spec,
      metrics: this.#collector,
      readyPods: o.actuator.readyPods(o.revision).length,
      clock: o.clock,
      logger: o.logger,
    })
    this.#latest = null
    this.#want = SCALE_UNKNOWN
    // A new PodAutoscaler's Active condition is Unknown: activating.
    this.#activeState = 'activating'
    this.#activeSinceMs = nowMs
    this.#scaleTargetInitialized = false
    this.#inPath = true
    this.#inPathSinceMs = nowMs
    this.#activatorReady = false
    this.#probing = false
    this.#requeue = null
    this.#requeueAtMs = Number.POSITIVE_INFINITY
    this.#scraping = false
    this.#lastStatAtMs = null
    this.#closed = false
  }

  get spec (): DeciderSpec { return this.#spec }

  /** A new spec or config for the same revision (annotations or config-autoscaler changed). */
  update (spec: DeciderSpec, config: AutoscalerConfig, containerConcurrency: number): void {
    this.#spec = spec
    this.#config = config
    this.#containerConcurrency = containerConcurrency
    this.#decider.update(spec)
    this.#collector.update({
      stableWindowMs: spec.stableWindowMs,
      panicWindowMs: spec.panicWindowMs,
      hasScrapeTarget: spec.targetBurstCapacity !== -1,
    }, this.#clock.nowMs())
  }

  /**
   * Records a pushed stat. Returns true when it is a poke: the revision is at (or not yet past)
   * zero and the stat shows demand, so the decider should run now rather than at the next tick.
   * Knative pokes only when the last decision was exactly 0; a revision that has never had data
   * (decision unknown, e.g. created with initial scale 0) is poked too, so its first request does
   * not wait up to a tick.
   */
  record (stat: CollectorStat): boolean {
    this.#collector.record(this.#clock.nowMs(), stat)
    this.#lastStatAtMs = this.#clock.wallMs()
    const latest = this.#latest === null ? SCALE_UNKNOWN : this.#latest.desiredPodCount
    return latest <= 0 && stat.averageConcurrentRequests !== 0
  }

  /** One scrape of the ready pods, recorded when it yields a stat. Skipped while one is running. */
  async scrape (run: (pods: readonly ScrapePod[], stableWindowMs: number) => Promise<ScrapeOutcome>): Promise<void> {
    if (this.#scraping || this.#closed) return
    this.#scraping = true
    try {
      const outcome = await run(this.#actuator.readyPods(this.revision), this.#spec.stableWindowMs)
      if (this.#closed) return
      if (outcome.kind === 'stat') {
        this.#collector.record(this.#clock.nowMs(), outcome.stat)
        this.#lastStatAtMs = this.#clock.wallMs()
      } else if (outcome.kind === 'failed') {
        this.#logger.debug({ err: outcome.error, scraped: outcome.scraped }, 'scrape failed')
      }
    } finally {
      this.#scraping = false
    }
  }

  /** The decider's tick (every 2 s, or at once on a poke), then a reconcile and a history sample. */
  tick (): void {
    if (this.#closed) return
    const nowMs = this.#clock.nowMs()
    const ready = this.#actuator.readyPods(this.revision).length
    const result = this.#decider.scale(nowMs, ready)
    if (result.scaleValid) this.#latest = result
    this.reconcile()
    this.#sample(ready)
  }

  /** Applies the latest decision through the scale rules and the actuator; updates the PA state. */
  reconcile (): void {
    if (this.#closed) return
    const nowMs = this.#clock.nowMs()
    const spec = this.#spec
    const ready = this.#actuator.readyPods(this.revision).length
    const bounds = {
      minScale: spec.minScale,
      maxScale: spec.maxScale,
      initialScale: spec.initialScale,
      reachable: spec.reachable,
      scaleTargetInitialized: this.#scaleTargetInitialized,
    }
    const decision = decideScale({
      ...bounds,
      nowMs,
      desiredScale: this.#latest === null ? SCALE_UNKNOWN : this.#latest.desiredPodCount,
      enableScaleToZero: this.#config.enableScaleToZero,
      activeState: this.#activeState,
      activeStateSinceMs: this.#activeSinceMs,
      stableWindowMs: spec.stableWindowMs,
      activationTimeoutMs: DEFAULT_PROGRESS_DEADLINE_MS + ACTIVATION_TIMEOUT_BUFFER_MS,
      targetBurstCapacity: spec.targetBurstCapacity,
      activatorReady: this.#activatorReady,
      scaleToZeroGracePeriodMs: this.#config.scaleToZeroGracePeriodMs,
      scaleToZeroPodRetentionMs: spec.scaleToZeroPodRetentionMs,
      activatorInPathSinceMs: this.#inPath ? this.#inPathSinceMs : null,
      proxyMode: this.#inPath,
    })
    if (decision.apply && this.#actuator.requestedScale(this.revision) !== decision.desiredScale) {
      this.#logger.info({ pods: decision.desiredScale, ready, decider: this.#latest?.desiredPodCount ?? SCALE_UNKNOWN }, 'scaling')
      this.#actuator.setScale(this.revision, decision.desiredScale)
    }
    const want = decision.desiredScale
    // Knative keeps a known desired scale rather than flapping to -1 after a restart.
    if (!(want === SCALE_UNKNOWN && this.#want >= 0)) this.#want = want
    if (decision.startActivatorProbe) this.#startActivatorProbe()
    if (decision.requeueAfterMs !== null) this.#requeueAfter(decision.requeueAfterMs)

    // Activator in the path (SKS Proxy mode) unless pods are wanted and there is burst headroom.
    const ebc = this.#latest === null ? initialExcessBurstCapacity(spec) : this.#latest.excessBurstCapacity
    const inPath = this.#alwaysInPath || (want === SCALE_UNKNOWN && this.#activeState === 'inactive') || activatorInPath(want, ebc)
    if (inPath !== this.#inPath) {
      this.#inPath = inPath
      this.#inPathSinceMs = inPath ? nowMs : null
    }

    const active = computeActiveState({ ...bounds, want, readyPods: ready, current: this.#activeState })
    this.#scaleTargetInitialized = active.scaleTargetInitialized
    if (active.state !== this.#activeState) {
      this.#logger.info({ from: this.#activeState, to: active.state, reason: active.reason, ready, want }, 'revision state')
      this.#activeState = active.state
      this.#activeSinceMs = nowMs
      // A probe result is only good for the inactive period it was taken in.
      if (active.state !== 'inactive') this.#activatorReady = false
    }
  }

  status (historyLimit = Number.POSITIVE_INFINITY): RevisionStatus {
    const nowMs = this.#clock.nowMs()
    const counts = this.#actuator.podCounts(this.revision)
    const spec = this.#spec
    return {
      namespace: this.revision.namespace,
      name: this.revision.name,
      containerConcurrency: this.#containerConcurrency,
      scalingMetric: spec.scalingMetric,
      target: spec.targetValue,
      desiredPods: this.#want,
      deciderPods: this.#latest === null ? SCALE_UNKNOWN : this.#latest.desiredPodCount,
      requestedPods: this.#actuator.requestedScale(this.revision),
      readyPods: counts.ready,
      pendingPods: counts.pending,
      terminatingPods: counts.terminating,
      observed: this.#observed(nowMs),
      panicMode: this.#decider.panicMode,
      activeState: this.#activeState,
      activeStateForMs: nowMs - this.#activeSinceMs,
      activatorInPath: this.#inPath,
      excessBurstCapacity: this.#latest === null ? initialExcessBurstCapacity(spec) : this.#latest.excessBurstCapacity,
      stableWindowMs: spec.stableWindowMs,
      panicWindowMs: spec.panicWindowMs,
      lastStatAtMs: this.#lastStatAtMs,
      history: this.#history.toArray(Number.isFinite(historyLimit) ? historyLimit : this.#history.size),
    }
  }

  close (): void {
    this.#closed = true
    this.#requeue?.cancel()
    this.#requeue = null
  }

  #observed (nowMs: number): ObservedMetrics | null {
    const c = this.#collector.stableAndPanicConcurrency(nowMs)
    const r = this.#collector.stableAndPanicRPS(nowMs)
    if (c === NO_DATA || r === NO_DATA) return null
    return { stableConcurrency: c.stable, panicConcurrency: c.panic, stableRps: r.stable, panicRps: r.panic }
  }

  #sample (ready: number): void {
    const o = this.#observed(this.#clock.nowMs())
    this.#history.push({
      atMs: this.#clock.wallMs(),
      desiredPods: this.#want,
      readyPods: ready,
      stableConcurrency: o?.stableConcurrency ?? 0,
      panicConcurrency: o?.panicConcurrency ?? 0,
      stableRps: o?.stableRps ?? 0,
      panicRps: o?.panicRps ?? 0,
      panicMode: this.#decider.panicMode,
    })
  }

  #requeueAfter (ms: number): void {
    const atMs = this.#clock.nowMs() + Math.max(0, ms)
    // Keep the earliest pending re-check.
    if (this.#requeue !== null && this.#requeueAtMs <= atMs) return
    this.#requeue?.cancel()
    this.#requeueAtMs = atMs
    this.#requeue = this.#timers.setTimeout(() => {
      this.#requeue = null
      this.#requeueAtMs = Number.POSITIVE_INFINITY
      this.reconcile()
    }, Math.max(0, ms))
  }

  /** Probes every second for up to 45 s; success re-runs reconcile. */
  #startActivatorProbe (): void {
    if (this.#probing || this.#closed) return
    this.#probing = true
    const deadlineMs = this.#clock.nowMs() + ACTIVATOR_PROBE_TIMEOUT_MS
    const attempt = (): void => {
      if (this.#closed) { this.#probing = false; return }
      this.#probe(this.revision).then((ok) => ok, (err: unknown) => {
        this.#logger.debug({ err }, 'activator probe failed')
        return false
      }).then((ok) => {
        if (this.#closed) { this.#probing = false; return }
        if (ok) {
          this.#probing = false
          this.#activatorReady = true
          this.reconcile()
        } else if (this.#clock.nowMs() + ACTIVATOR_PROBE_PERIOD_MS > deadlineMs) {
          this.#probing = false
          this.#logger.warn('activator did not answer probes; not scaling to zero yet')
        } else {
          this.#timers.setTimeout(attempt, ACTIVATOR_PROBE_PERIOD_MS)
        }
      }, (err: unknown) => {
        this.#probing = false
        this.#logger.error({ err }, 'activator probe handling failed')
      })
    }
    attempt()
  }
}
