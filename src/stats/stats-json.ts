// JSON form of the metrics endpoint (`Accept: application/json` or `?format=json`). Schema, version 1:
//
// {
//   "stats": [                      // one entry per label set: a sidecar has one, an activator one per revision
//     {
//       "namespace": "default", "configuration": "hello", "revision": "hello-00001", "pod": "hello-00001-abc",
//       "podName": "hello-00001-abc",           // Knative Stat fields from here on, for the last closed period
//       "averageConcurrentRequests": 1.5,       // time-weighted average in-flight requests
//       "averageProxiedConcurrentRequests": 0,  // part of the above that came through the activator
//       "requestCount": 12,                     // requests per second (count / period seconds)
//       "proxiedRequestCount": 0,               // part of the above that came through the activator
//       "processUptime": 42.001,                // seconds since the reporter started
//       "timestamp": 0                          // unix seconds; 0 like queue-proxy
//     }
//   ],
//   "proxy": {                      // null when the source has no ProxyMetrics
//     "inFlight": 3, "queueDepth": 0,                       // gauges, read at scrape time
//     "overflow503": 0, "upstream502": 0, "timeout504": 0,  // counters since start
//     "responses": { "1xx": 0, "2xx": 120, "3xx": 0, "4xx": 1, "5xx": 0, "other": 0 },
//     "latencyMs":           { "p50": 1.2, "p90": 2.0, "p99": 4.1, "p999": 9.9, "count": 121, "sumMs": 180.5 },
//     "queueWaitMs":         { ...same shape },
//     "upstreamFirstByteMs": { ...same shape }
//   }
// }
//
// Percentiles cover the sliding quantile window as of the last period and are null while it is empty;
// count/sumMs are since start. The stats part is serialized once per period (stat-snapshot.ts).

import type { LatencySummary } from './latency-summary.ts'
import type { ProxyMetrics } from './proxy-metrics.ts'
import type { LabeledStat } from './stat.ts'

/** The `stats` array as JSON text. */
export function renderStatsJson (entries: readonly LabeledStat[]): string {
  return JSON.stringify(entries.map((e) => ({
    namespace: e.labels.namespace,
    configuration: e.labels.configuration,
    revision: e.labels.revision,
    pod: e.labels.pod,
    podName: e.stat.podName,
    averageConcurrentRequests: e.stat.averageConcurrentRequests,
    averageProxiedConcurrentRequests: e.stat.averageProxiedConcurrentRequests,
    requestCount: e.stat.requestCount,
    proxiedRequestCount: e.stat.proxiedRequestCount,
    processUptime: e.stat.processUptime,
    timestamp: e.stat.timestamp,
  })))
}

function finiteOrNull (value: number): number | null {
  return Number.isFinite(value) ? value : null
}

function summaryJson (summary: LatencySummary): Record<string, number | null> {
  return {
    p50: finiteOrNull(summary.quantileMs(0)),
    p90: finiteOrNull(summary.quantileMs(1)),
    p99: finiteOrNull(summary.quantileMs(2)),
    p999: finiteOrNull(summary.quantileMs(3)),
    count: summary.count,
    sumMs: summary.sumMs,
  }
}

/** The `proxy` object as JSON text ('null' without metrics). */
export function renderProxyMetricsJson (metrics: ProxyMetrics | null): string {
  if (metrics === null) return 'null'
  const gauges = metrics.gauges()
  return JSON.stringify({
    inFlight: gauges.inFlight,
    queueDepth: gauges.queueDepth,
    overflow503: metrics.overflow503,
    upstream502: metrics.upstream502,
    timeout504: metrics.timeout504,
    responses: {
      '1xx': metrics.responses(1),
      '2xx': metrics.responses(2),
      '3xx': metrics.responses(3),
      '4xx': metrics.responses(4),
      '5xx': metrics.responses(5),
      other: metrics.responses(0),
    },
    latencyMs: summaryJson(metrics.latency),
    queueWaitMs: summaryJson(metrics.queueWait),
    upstreamFirstByteMs: summaryJson(metrics.upstreamFirstByte),
  })
}
