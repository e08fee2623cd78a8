// Windowed metrics of one revision, Knative's `collection` (pkg/autoscaler/metrics/collector.go)
// without the scraping loop: stats from the scraper and from activator pushes are recorded here,
// and the decider reads the stable and panic averages of concurrency and RPS.

import type { AggregationAlgorithm } from './decider-spec.ts'
import { TimedFloat64Buckets } from './timed-buckets.ts'
import { WeightedFloat64Buckets } from './weighted-buckets.ts'
import { BUCKET_SIZE_MS } from './autoscaler-config.ts'

/** The Stat fields the collector uses (Knative's metrics.Stat / the wire protobuf). */
export interface CollectorStat {
  readonly averageConcurrentRequests: number
  readonly averageProxiedConcurrentRequests: number
  readonly requestCount: number
  readonly proxiedRequestCount: number
}

/** Stable- and panic-window averages of one metric. */
export interface StableAndPanic {
  readonly stable: number
  readonly panic: number
}

/**
 * Nothing recorded within the stable window (Knative's ErrNoData): the decider skips the tick.
 * An expected outcome, so a value rather than an exception.
 */
export const NO_DATA: unique symbol = Symbol('NO_DATA')
export type NoData = typeof NO_DATA

/** What the collector needs from a bucket type. */
interface WindowAverager {
  record (timeMs: number, value: number): void
  windowAverage (nowMs: number): number
  isEmpty (nowMs: number): boolean
  resizeWindow (windowMs: number, nowMs: number): void
}

export interface MetricCollectorOptions {
  readonly stableWindowMs: number
  readonly panicWindowMs: number
  /** Default 'linear'. Fixed for the collector's life, as in Knative (annotation is immutable). */
  readonly aggregationAlgorithm?: AggregationAlgorithm
  /**
   * Whether pods are scraped for this revision (Knative: the Metric's ScrapeTarget is set, which
   * is the case unless target-burst-capacity is -1). Without a scrape target Knative never
   * reports no-data: stats come only from activators, so silence means zero load. Default true.
   */
  readonly hasScrapeTarget?: boolean
}

export class MetricCollector {
  readonly #concurrency: WindowAverager
  readonly #concurrencyPanic: WindowAverager
  readonly #rps: WindowAverager
  readonly #rpsPanic: WindowAverager
  #hasScrapeTarget: boolean

  constructor (options: MetricCollectorOptions) {
    const weighted = options.aggregationAlgorithm === 'weighted-exponential'
    const make = (windowMs: number): WindowAverager => weighted
      ? new WeightedFloat64Buckets(windowMs, BUCKET_SIZE_MS)
      : new TimedFloat64Buckets(windowMs, BUCKET_SIZE_MS)
    this.#concurrency = make(options.stableWindowMs)
    this.#concurrencyPanic = make(options.panicWindowMs)
    this.#rps = make(options.stableWindowMs)
    this.#rpsPanic = make(options.panicWindowMs)
    this.#hasScrapeTarget = options.hasScrapeTarget ?? true
  }

  /**
   * Record one stat (a scrape, or one activator's report) at `timeMs`. Proxied requests were
   * already counted by the activator that proxied them, so they are subtracted here.
   */
  record (timeMs: number, stat: CollectorStat): void {
    const concurrency = stat.averageConcurrentRequests - stat.averageProxiedConcurrentRequests
    this.#concurrency.record(timeMs, concurrency)
    this.#concurrencyPanic.record(timeMs, concurrency)
    const rps = stat.requestCount - stat.proxiedRequestCount
    this.#rps.record(timeMs, rps)
    this.#rpsPanic.record(timeMs, rps)
  }

  /** Stable and panic average concurrency as of `nowMs`, or NO_DATA. */
  stableAndPanicConcurrency (nowMs: number): StableAndPanic | NoData {
    if (this.#hasScrapeTarget && this.#concurrency.isEmpty(nowMs)) return NO_DATA
    return { stable: this.#concurrency.windowAverage(nowMs), panic: this.#concurrencyPanic.windowAverage(nowMs) }
  }

  /** Stable and panic average requests per second as of `nowMs`, or NO_DATA. */
  stableAndPanicRPS (nowMs: number): StableAndPanic | NoData {
    if (this.#hasScrapeTarget && this.#rps.isEmpty(nowMs)) return NO_DATA
    return { stable: this.#rps.windowAverage(nowMs), panic: this.#rpsPanic.windowAverage(nowMs) }
  }

  /**
   * Apply changed windows (Knative's updateMetric), keeping the newest data that fits.
   * `nowMs` decides whether the recorded data is still current.
   */
  update (options: Omit<MetricCollectorOptions, 'aggregationAlgorithm'>, nowMs: number): void {
    this.#concurrency.resizeWindow(options.stableWindowMs, nowMs)
    this.#concurrencyPanic.resizeWindow(options.panicWindowMs, nowMs)
    this.#rps.resizeWindow(options.stableWindowMs, nowMs)
    this.#rpsPanic.resizeWindow(options.panicWindowMs, nowMs)
    if (options.hasScrapeTarget !== undefined) this.#hasScrapeTarget = options.hasScrapeTarget
  }
}
