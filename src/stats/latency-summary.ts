// A latency distribution exposed as a Prometheus summary: quantiles over a sliding window, `_sum` and
// `_count` since start (the same split as client_golang's Summary).
//
// Recording is one HDR-layout `recordValue` (log-linear-histogram.ts: O(1), no allocation) plus two additions. Quantiles are
// computed only in `tick` (once per reporting period, off the request path) and cached, so a scrape only
// reads numbers. The window is two half-window histograms: `tick` moves `current` into `previous` every
// half window, and quantiles cover previous + current, i.e. the last half to full window.
//
// Values are recorded in integer microseconds with 3 significant digits (0.1% error), clamped to
// [0, MAX_RECORDABLE_MS] so recording never throws. Each histogram of that range takes ~95 KB, so a summary
// owns two and the summaries of one ProxyMetrics share one scratch histogram for merging.

import { LogLinearHistogram } from './log-linear-histogram.ts'

/** Quantiles every summary exposes, in this order. */
export const SUMMARY_QUANTILES: readonly number[] = Object.freeze([0.5, 0.9, 0.99, 0.999])

/** Largest recordable value: one hour, longer than any Knative revision timeout default. */
export const MAX_RECORDABLE_MS = 3_600_000

export const DEFAULT_QUANTILE_WINDOW_MS = 60_000

const US_PER_MS = 1000

/** Integer microseconds, 1 .. MAX_RECORDABLE_MS, 3 significant digits (hdr-histogram's layout). */
export function buildLatencyHistogram (): LogLinearHistogram {
  return new LogLinearHistogram(MAX_RECORDABLE_MS * US_PER_MS)
}

export class LatencySummary {
  #current: LogLinearHistogram
  #previous: LogLinearHistogram
  readonly #halfWindowMs: number
  #rotatedAtMs = Number.NaN
  #dirty = false
  #count = 0
  #sumMs = 0
  /** Cached quantiles in ms, same order as SUMMARY_QUANTILES; NaN while the window is empty. */
  readonly #quantilesMs = new Float64Array(SUMMARY_QUANTILES.length).fill(Number.NaN)

  constructor (windowMs = DEFAULT_QUANTILE_WINDOW_MS) {
    this.#current = buildLatencyHistogram()
    this.#previous = buildLatencyHistogram()
    this.#halfWindowMs = windowMs / 2
  }

  /** Observations since start. */
  get count (): number { return this.#count }
  /** Sum of observations since start, in ms (after clamping). */
  get sumMs (): number { return this.#sumMs }

  /** Quantile `index` of SUMMARY_QUANTILES over the window, in ms, as of the last tick; NaN if none. */
  quantileMs (index: number): number {
    return this.#quantilesMs[index] ?? Number.NaN
  }

  record (ms: number): void {
    // `!(ms > 0)` also catches NaN.
    if (!(ms > 0)) ms = 0
    else if (ms > MAX_RECORDABLE_MS) ms = MAX_RECORDABLE_MS
    this.#current.recordValue(Math.round(ms * US_PER_MS))
    this.#count++
    this.#sumMs += ms
    this.#dirty = true
  }

  /**
   * Closes a period: rotates the window when due and, if anything changed, recomputes the cached quantiles
   * using `scratch` (any histogram from buildLatencyHistogram; its contents are overwritten).
   */
  tick (nowMs: number, scratch: LogLinearHistogram): void {
    if (Number.isNaN(this.#rotatedAtMs)) this.#rotatedAtMs = nowMs
    if (nowMs - this.#rotatedAtMs >= this.#halfWindowMs) {
      const emptied = this.#previous
      emptied.reset()
      this.#previous = this.#current
      this.#current = emptied
      this.#rotatedAtMs = nowMs
      this.#dirty = true
    }
    if (!this.#dirty) return
    this.#dirty = false
    scratch.reset()
    scratch.add(this.#previous)
    scratch.add(this.#current)
    const empty = scratch.totalCount === 0
    for (let i = 0; i < SUMMARY_QUANTILES.length; i++) {
      const q = SUMMARY_QUANTILES[i] ?? 0
      this.#quantilesMs[i] = empty ? Number.NaN : scratch.getValueAtPercentile(q * 100) / US_PER_MS
    }
  }
}
