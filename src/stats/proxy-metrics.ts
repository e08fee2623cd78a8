// Sluice's own metrics, beyond Knative's queue gauges: where the time goes (latency, queue wait, upstream
// time to first byte), what went wrong (503 overflow, 502, 504), responses by status class, and the current
// in-flight / queue depth.
//
// The request path only calls the record/inc methods: O(1), no allocation. Gauges are not pushed: they are
// read from the `gauges` provider when a scrape renders them. Quantiles are computed in `tick`, which the
// StatsReporter calls once per period (see latency-summary.ts).

import type { LogLinearHistogram } from './log-linear-histogram.ts'
import { buildLatencyHistogram, DEFAULT_QUANTILE_WINDOW_MS, LatencySummary } from './latency-summary.ts'

export interface ProxyGauges {
  /** Requests inside the proxy now (queued + executing). */
  inFlight: number
  /** Requests waiting for admission now. */
  queueDepth: number
}

export interface ProxyMetricsOptions {
  /** Read at scrape time. Defaults to all zeros. */
  gauges?: () => ProxyGauges
  /** Sliding window of the summary quantiles. Default 60 s. */
  quantileWindowMs?: number
}

/** Index of `responses(cls)`: 1..5 for 1xx..5xx, 0 for anything else. */
export type StatusClass = 0 | 1 | 2 | 3 | 4 | 5

const ZERO_GAUGES: ProxyGauges = Object.freeze({ inFlight: 0, queueDepth: 0 })

function zeroGauges (): ProxyGauges {
  return ZERO_GAUGES
}

export class ProxyMetrics {
  /** Whole request, from arrival to the end of the response. */
  readonly latency: LatencySummary
  /** Time spent waiting for admission (breaker / throttler queue). */
  readonly queueWait: LatencySummary
  /** From sending upstream to the upstream's response headers. */
  readonly upstreamFirstByte: LatencySummary
  readonly #gauges: () => ProxyGauges
  readonly #scratch: LogLinearHistogram
  #overflow503 = 0
  #upstream502 = 0
  #timeout504 = 0
  /** Responses by status class, indexed by StatusClass. */
  readonly #responses = new Float64Array(6)

  constructor (options: ProxyMetricsOptions = {}) {
    const windowMs = options.quantileWindowMs ?? DEFAULT_QUANTILE_WINDOW_MS
    this.latency = new LatencySummary(windowMs)
    this.queueWait = new LatencySummary(windowMs)
    this.upstreamFirstByte = new LatencySummary(windowMs)
    this.#gauges = options.gauges ?? zeroGauges
    this.#scratch = buildLatencyHistogram()
  }

  recordLatencyMs (ms: number): void { this.latency.record(ms) }
  recordQueueWaitMs (ms: number): void { this.queueWait.record(ms) }
  recordUpstreamFirstByteMs (ms: number): void { this.upstreamFirstByte.record(ms) }

  /** A request was rejected because the admission queue was full (503). */
  incOverflow503 (): void { this.#overflow503++ }
  /** The upstream could not be reached or failed before responding (502). */
  incUpstream502 (): void { this.#upstream502++ }
  /** A revision, response-start or idle timeout fired (504). */
  incTimeout504 (): void { this.#timeout504++ }
  /** Any response sent, our own 502/503/504 included; counted by class. */
  incResponse (statusCode: number): void {
    const cls = Math.floor(statusCode / 100)
    this.#responses[cls >= 1 && cls <= 5 ? cls : 0]++
  }

  get overflow503 (): number { return this.#overflow503 }
  get upstream502 (): number { return this.#upstream502 }
  get timeout504 (): number { return this.#timeout504 }
  responses (cls: StatusClass): number { return this.#responses[cls] ?? 0 }

  /** Current gauges, from the provider. */
  gauges (): ProxyGauges { return this.#gauges() }

  /** Closes a period: refreshes the cached quantiles. Off the request path (StatsReporter calls it). */
  tick (nowMs: number): void {
    this.latency.tick(nowMs, this.#scratch)
    this.queueWait.tick(nowMs, this.#scratch)
    this.upstreamFirstByte.tick(nowMs, this.#scratch)
  }
}
