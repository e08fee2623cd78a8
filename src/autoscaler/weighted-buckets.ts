// Exponentially weighted window average, Knative's WeightedFloat64Buckets
// (pkg/autoscaler/aggregation/bucketing.go), selected per revision with
// `autoscaling.knative.dev/metric-aggregation-algorithm: weighted-exponential`.
//
// Same ring buffer and record() as the linear buckets; only the read differs. The newest bucket
// has weight a, the one before a(1-a), then a(1-a)^2, ... Seconds since the last write count as
// zeros at the newest end. a is chosen so the weights over the window sum to at least 99.99%,
// but never below 0.2 (so very long windows still favour recent data). Unlike the linear
// average, the result is not rounded and a young series is not averaged over its own length.

import { TimedFloat64Buckets, ringSlot } from './timed-buckets.ts'

/** The smallest decay multiplier (Knative's minExponent). */
export const MIN_SMOOTHING_COEFF = 0.2
/** Weights over the window sum to at least this (Knative's weightPrecision). */
export const WEIGHT_PRECISION = 0.9999

/** Knative's computeSmoothingCoeff: max(1 - (1 - 0.9999)^(1/n), 0.2) for n buckets. */
export function computeSmoothingCoeff (numBuckets: number): number {
  return Math.max(1 - Math.pow(1 - WEIGHT_PRECISION, 1 / numBuckets), MIN_SMOOTHING_COEFF)
}

export class WeightedFloat64Buckets extends TimedFloat64Buckets {
  #smoothingCoeff: number

  constructor (windowMs: number, granularityMs = 1000) {
    super(windowMs, granularityMs)
    this.#smoothingCoeff = computeSmoothingCoeff(Math.ceil(windowMs / granularityMs))
  }

  /** The decay multiplier a in use. */
  get smoothingCoeff (): number { return this.#smoothingCoeff }

  override windowAverage (nowMs: number): number {
    const now = this.truncate(nowMs)
    if (this.isEmpty(now)) return 0
    const totalB = this.buckets.length
    let numB = totalB
    let multiplier = this.#smoothingCoeff
    if (now > this.lastWriteMs) {
      // Skip the empty newest buckets: jump straight to a(1-a)^numZ.
      const numZ = Math.floor((now - this.lastWriteMs) / this.granularityMs)
      multiplier *= Math.pow(1 - this.#smoothingCoeff, numZ)
      numB -= numZ
    }
    const startIdx = this.timeToIndex(this.lastWriteMs)
    let ret = 0
    for (let i = 0; i < numB; i++) {
      ret += this.buckets[ringSlot(startIdx - i, totalB)] * multiplier
      multiplier *= 1 - this.#smoothingCoeff
    }
    return ret
  }

  override resizeWindow (windowMs: number, nowMs: number): void {
    super.resizeWindow(windowMs, nowMs)
    this.#smoothingCoeff = computeSmoothingCoeff(Math.ceil(windowMs / this.granularityMs))
  }
}
