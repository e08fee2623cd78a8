// The KPA decision for one revision: Knative's autoscaler.Scale (pkg/autoscaler/scaling/
// autoscaler.go) plus the activator count of the KPA reconciler (kpa.go computeNumActivators).
// No I/O and no timers: the caller ticks it (every 2 s, or at once on a poke at scale 0) with
// the time and the ready pod count, and the metrics come from an injected source.

import type { Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { DeciderSpec } from './decider-spec.ts'
import { MaxTimeWindow } from './max-time-window.ts'
import { NO_DATA, type NoData, type StableAndPanic } from './metric-collector.ts'

/** How often Knative evaluates a decider (multiscaler tickInterval); also the scale-down-delay granularity. */
export const TICK_INTERVAL_MS = 2_000
/** The fewest activators kept in the path (kpa.go minActivators). */
export const MIN_ACTIVATORS = 2

/** Where the decider reads observed load; MetricCollector implements it. */
export interface DeciderMetrics {
  stableAndPanicConcurrency (nowMs: number): StableAndPanic | NoData
  stableAndPanicRPS (nowMs: number): StableAndPanic | NoData
}

/** The spec fields the decider uses. */
export type KpaDeciderSpec = Pick<DeciderSpec,
  'scalingMetric' | 'targetValue' | 'totalValue' | 'targetBurstCapacity' | 'activatorCapacity' |
  'panicThreshold' | 'maxScaleUpRate' | 'maxScaleDownRate' | 'stableWindowMs' | 'scaleDownDelayMs' |
  'reachable' | 'activationScale'>

export interface ScaleResult {
  /** False when there was no data to decide on (skip this tick); the other counts are then -1/0. */
  readonly scaleValid: boolean
  /** Pods the revision should have, before min/max/zero rules (scale-bounds.ts). -1 when invalid. */
  readonly desiredPodCount: number
  /** Spare capacity beyond target burst capacity; negative keeps the activator in the path. -1 = unlimited TBC. */
  readonly excessBurstCapacity: number
  /** Activators to put in the revision's path. */
  readonly numActivators: number
  readonly panicMode: boolean
  /** Observed stable-window average of the scaling metric (concurrency or RPS). */
  readonly observedStable: number
  /** Observed panic-window average of the scaling metric. */
  readonly observedPanic: number
}

export interface KpaDeciderOptions {
  readonly spec: KpaDeciderSpec
  readonly metrics: DeciderMetrics
  /**
   * Ready pods when the decider is created. With more than one, the decider starts in panic
   * mode so that an autoscaler restart (which loses metric history) cannot scale the revision
   * down before a stable window of data has been seen.
   */
  readonly readyPods?: number
  readonly clock: Clock
  readonly logger?: Logger | null
}

/**
 * Activators to put in the path: enough to absorb ready pods' capacity plus the burst capacity,
 * at least 2 (kpa.go computeNumActivators). TBC = 0 -> 2; TBC = -1 adds nothing.
 */
export function computeNumActivators (readyPods: number, spec: Pick<DeciderSpec, 'targetBurstCapacity' | 'totalValue' | 'activatorCapacity'>): number {
  if (spec.targetBurstCapacity === 0) return MIN_ACTIVATORS
  let capacityToCover = readyPods * spec.totalValue
  if (spec.targetBurstCapacity > 0) capacityToCover += spec.targetBurstCapacity
  return Math.max(MIN_ACTIVATORS, Math.ceil(capacityToCover / spec.activatorCapacity))
}

/**
 * Excess burst capacity a new decider reports before its first decision (multiscaler
 * createScaler): -1 or 0 for those TBC values, else initialScale x total - TBC, so a TBC larger
 * than the initial pods can take keeps the activator in the path from the start.
 */
export function initialExcessBurstCapacity (spec: Pick<DeciderSpec, 'targetBurstCapacity' | 'initialScale' | 'totalValue'>): number {
  const tbc = spec.targetBurstCapacity
  if (tbc === -1 || tbc === 0) return tbc
  return Math.trunc(spec.initialScale * spec.totalValue - tbc)
}

export class KpaDecider {
  #spec: KpaDeciderSpec
  readonly #metrics: DeciderMetrics
  readonly #logger: Logger | null
  /** Start of the current panic (ms), or null when not panicking. Extended while still over the threshold. */
  #panicTimeMs: number | null
  /** Highest desired count in this panic: panic mode never scales down. */
  #maxPanicPods: number
  /** Max of recent desired counts over scale-down-delay; null when the delay is 0. */
  #delayWindow: MaxTimeWindow | null

  constructor (options: KpaDeciderOptions) {
    this.#spec = options.spec
    this.#metrics = options.metrics
    this.#logger = options.logger ?? null
    const readyPods = options.readyPods ?? 0
    this.#panicTimeMs = readyPods > 1 ? options.clock.nowMs() : null
    this.#maxPanicPods = readyPods
    this.#delayWindow = makeDelayWindow(options.spec.scaleDownDelayMs)
  }

  /** Whether the decider is in panic mode. */
  get panicMode (): boolean { return this.#panicTimeMs !== null }
  /** When the current panic started or was last extended (ms), null when not panicking. */
  get panicTimeMs (): number | null { return this.#panicTimeMs }
  /** The floor panic mode holds the pod count at. */
  get maxPanicPods (): number { return this.#maxPanicPods }
  get spec (): KpaDeciderSpec { return this.#spec }

  /**
   * Replace the spec (a revision's annotations or the config changed). Panic state is kept.
   * Unlike Knative, which sizes the scale-down-delay window once at creation, a changed
   * scale-down-delay takes effect here (the window restarts empty).
   */
  update (spec: KpaDeciderSpec): void {
    if (spec.scaleDownDelayMs !== this.#spec.scaleDownDelayMs) {
      this.#delayWindow = makeDelayWindow(spec.scaleDownDelayMs)
    }
    this.#spec = spec
  }

  /**
   * Decide the pod count at `nowMs` given the currently ready pods. Not idempotent: it moves the
   * panic state and the scale-down-delay window, so call it once per tick.
   */
  scale (nowMs: number, readyPods: number): ScaleResult {
    const spec = this.#spec
    // Rates and ratios need at least one pod.
    const ready = Math.max(1, readyPods)

    const observed = spec.scalingMetric === 'rps'
      ? this.#metrics.stableAndPanicRPS(nowMs)
      : this.#metrics.stableAndPanicConcurrency(nowMs)
    if (observed === NO_DATA) {
      return {
        scaleValid: false,
        desiredPodCount: -1,
        excessBurstCapacity: 0,
        numActivators: computeNumActivators(readyPods, spec),
        panicMode: this.#panicTimeMs !== null,
        observedStable: 0,
        observedPanic: 0,
      }
    }
    const observedStable = observed.stable
    const observedPanic = observed.panic

    // ceil, so a small rate still allows one more pod (rate 1.1 x 2 pods -> 3, not 2).
    const maxScaleUp = Math.ceil(spec.maxScaleUpRate * ready)
    // An unreachable revision (no route) may drop to zero at once.
    const maxScaleDown = spec.reachable ? Math.floor(ready / spec.maxScaleDownRate) : 0

    const dspc = Math.ceil(observedStable / spec.targetValue)
    const dppc = Math.ceil(observedPanic / spec.targetValue)
    let desiredStable = Math.min(Math.max(dspc, maxScaleDown), maxScaleUp)
    let desiredPanic = Math.min(Math.max(dppc, maxScaleDown), maxScaleUp)

    // activation-scale: any non-zero demand gets at least this many pods.
    if (spec.activationScale > 1) {
      if (dspc > 0 && spec.activationScale > desiredStable) desiredStable = spec.activationScale
      if (dppc > 0 && spec.activationScale > desiredPanic) desiredPanic = spec.activationScale
    }

    const isOverPanicThreshold = dppc / ready >= spec.panicThreshold
    if (this.#panicTimeMs === null && isOverPanicThreshold) {
      this.#panicTimeMs = nowMs
      this.#logger?.info({ desiredPanicPods: desiredPanic, readyPods }, 'entering panic mode')
    } else if (isOverPanicThreshold) {
      // Still over: extend the panic.
      this.#panicTimeMs = nowMs
    } else if (this.#panicTimeMs !== null && this.#panicTimeMs + spec.stableWindowMs < nowMs) {
      // Under the threshold for a whole stable window: the surge is in the stable average now.
      this.#panicTimeMs = null
      this.#maxPanicPods = 0
      this.#logger?.info({ desiredStablePods: desiredStable, readyPods }, 'leaving panic mode')
    }

    let desired = desiredStable
    if (this.#panicTimeMs !== null) {
      // Provision for the larger of the two (the stable average can exceed the panic one), and
      // never scale down while panicking.
      if (desired < desiredPanic) desired = desiredPanic
      if (desired > this.#maxPanicPods) this.#maxPanicPods = desired
      desired = this.#maxPanicPods
    }

    // scale-down-delay: apply the largest count of the last delay window. Only while reachable;
    // the window is null for no delay because even a one-slot window would pick the larger of
    // two decisions made within one tick instead of the latest.
    if (spec.reachable && this.#delayWindow !== null) {
      this.#delayWindow.record(nowMs, desired)
      desired = this.#delayWindow.current()
    }

    // Excess burst capacity, from the panic average (react to bursts, not the slow average) and
    // the real ready count. Negative: not enough headroom, keep the activator in the path.
    let excessBurstCapacity = -1
    if (spec.targetBurstCapacity === 0) {
      excessBurstCapacity = 0
    } else if (spec.targetBurstCapacity > 0) {
      excessBurstCapacity = Math.floor(readyPods * spec.totalValue - spec.targetBurstCapacity - observedPanic)
    }

    return {
      scaleValid: true,
      desiredPodCount: desired,
      excessBurstCapacity,
      numActivators: computeNumActivators(readyPods, spec),
      panicMode: this.#panicTimeMs !== null,
      observedStable,
      observedPanic,
    }
  }
}

function makeDelayWindow (scaleDownDelayMs: number): MaxTimeWindow | null {
  return scaleDownDelayMs > 0 ? new MaxTimeWindow(scaleDownDelayMs, TICK_INTERVAL_MS) : null
}
