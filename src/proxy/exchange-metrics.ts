import type { ProxyMetrics } from '../stats/proxy-metrics.ts'
import {
  OUTCOME_QUEUE_FULL, OUTCOME_QUEUE_TIMEOUT, OUTCOME_TIMEOUT, OUTCOME_UPSTREAM_ERROR, type ProxyExchange,
} from './proxy-exchange.ts'

/** Feeds one finished exchange into the proxy metrics: durations, status class, failure counters. */
export class ExchangeMetrics {
  readonly #metrics: ProxyMetrics

  constructor (metrics: ProxyMetrics) {
    this.#metrics = metrics
  }

  onExchangeDone (ex: ProxyExchange, nowMs: number): void {
    const m = this.#metrics
    m.recordLatencyMs(nowMs - ex.startMs)
    if (ex.admittedMs >= 0) {
      m.recordQueueWaitMs(ex.admittedMs - ex.startMs)
      if (ex.firstByteMs >= 0) m.recordUpstreamFirstByteMs(ex.firstByteMs - ex.admittedMs)
    }
    switch (ex.outcome) {
      case OUTCOME_QUEUE_FULL: case OUTCOME_QUEUE_TIMEOUT: m.incOverflow503(); break
      case OUTCOME_UPSTREAM_ERROR: m.incUpstream502(); break
      case OUTCOME_TIMEOUT: m.incTimeout504(); break
    }
    if (ex.statusCode > 0) m.incResponse(ex.statusCode)
  }
}
