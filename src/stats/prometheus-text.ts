// Prometheus text exposition format 0.0.4: Knative's five queue gauges (the names and labels queue-proxy
// served before Knative 1.7 dropped its Prometheus stats reporter) and Sluice's ProxyMetrics.
//
// Queue gauges are rendered once per period by whoever closes the period (StatsReporter, or the activator
// for all its revisions at once), so every family's HELP/TYPE appears once with one sample per label set.
// ProxyMetrics are rendered per scrape, but only read cached numbers (quantiles come from the last tick).

import type { LabeledStat, QueueLabels, Stat } from './stat.ts'
import type { LatencySummary } from './latency-summary.ts'
import { SUMMARY_QUANTILES } from './latency-summary.ts'
import type { ProxyMetrics, StatusClass } from './proxy-metrics.ts'

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Label value escaping: backslash, double quote and line feed (exposition format spec). */
export function escapeLabelValue (value: string): string {
  return value.replace(/[\\"\n]/g, escapeChar)
}

/** HELP text escaping: backslash and line feed only. */
export function escapeHelp (text: string): string {
  return text.replace(/[\\\n]/g, escapeChar)
}

function escapeChar (ch: string): string {
  if (ch === '\n') return '\\n'
  return '\\' + ch
}

/** A sample value as Go's ParseFloat reads it: NaN, +Inf, -Inf or a JS number literal. */
export function formatSampleValue (value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(value)
}

function header (name: string, type: string, help: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`
}

/** `{destination_namespace="…",destination_configuration="…",destination_revision="…",destination_pod="…"}` */
export function renderQueueLabels (labels: QueueLabels): string {
  return `{destination_namespace="${escapeLabelValue(labels.namespace)}"` +
    `,destination_configuration="${escapeLabelValue(labels.configuration)}"` +
    `,destination_revision="${escapeLabelValue(labels.revision)}"` +
    `,destination_pod="${escapeLabelValue(labels.pod)}"}`
}

interface QueueGauge {
  readonly name: string
  readonly header: string
  readonly value: (stat: Stat) => number
}

function queueGauge (name: string, help: string, value: (stat: Stat) => number): QueueGauge {
  return { name, header: header(name, 'gauge', help), value }
}

// Names and help texts as Knative's prometheus_stats_reporter.go had them. "operations" in the proxied name
// is Knative's, kept for compatibility.
const QUEUE_GAUGES: readonly QueueGauge[] = [
  queueGauge('queue_requests_per_second', 'Number of requests per second', (s) => s.requestCount),
  queueGauge('queue_proxied_operations_per_second', 'Number of proxied requests per second',
    (s) => s.proxiedRequestCount),
  queueGauge('queue_average_concurrent_requests', 'Number of requests currently being handled by this pod',
    (s) => s.averageConcurrentRequests),
  queueGauge('queue_average_proxied_concurrent_requests',
    'Number of proxied requests currently being handled by this pod', (s) => s.averageProxiedConcurrentRequests),
  queueGauge('process_uptime', 'The number of seconds that the process has been up', (s) => s.processUptime),
]

/** Knative's queue gauges for every label set (HELP/TYPE once per family). Empty list -> ''. */
export function renderQueueMetrics (entries: readonly LabeledStat[]): string {
  if (entries.length === 0) return ''
  const labels = entries.map((e) => renderQueueLabels(e.labels))
  let out = ''
  for (const gauge of QUEUE_GAUGES) {
    out += gauge.header
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]
      if (entry === undefined) continue
      out += `${gauge.name}${labels[i] ?? ''} ${formatSampleValue(gauge.value(entry.stat))}\n`
    }
  }
  return out
}

// ------------------------------------------------------------------------------------------ ProxyMetrics

const SECONDS_PER_MS = 0.001

interface SummaryFamily {
  readonly header: string
  readonly quantilePrefixes: readonly string[]
  readonly sumPrefix: string
  readonly countPrefix: string
}

function summaryFamily (name: string, help: string): SummaryFamily {
  return {
    header: header(name, 'summary', help),
    quantilePrefixes: SUMMARY_QUANTILES.map((q) => `${name}{quantile="${q}"} `),
    sumPrefix: `${name}_sum `,
    countPrefix: `${name}_count `,
  }
}

const LATENCY = summaryFamily('sluice_request_latency_seconds',
  'Time from request arrival to the end of the response (quantiles over a sliding window)')
const QUEUE_WAIT = summaryFamily('sluice_queue_wait_seconds',
  'Time a request waited for admission (quantiles over a sliding window)')
const UPSTREAM_FIRST_BYTE = summaryFamily('sluice_upstream_first_byte_seconds',
  'Time from forwarding a request to the upstream response headers (quantiles over a sliding window)')

const IN_FLIGHT_HEADER = header('sluice_in_flight_requests', 'gauge', 'Requests currently inside the proxy')
const QUEUE_DEPTH_HEADER = header('sluice_queue_depth', 'gauge', 'Requests currently waiting for admission')
const OVERFLOW_HEADER = header('sluice_overflow_total', 'counter',
  'Requests rejected with 503 because the admission queue was full')
const UPSTREAM_ERRORS_HEADER = header('sluice_upstream_errors_total', 'counter',
  'Requests answered 502 because the upstream failed')
const TIMEOUTS_HEADER = header('sluice_timeouts_total', 'counter', 'Requests answered 504 because a timeout fired')
const RESPONSES_HEADER = header('sluice_responses_total', 'counter', 'Responses sent, by status class')
const RESPONSE_CLASSES: ReadonlyArray<readonly [StatusClass, string]> = [
  [1, 'sluice_responses_total{class="1xx"} '],
  [2, 'sluice_responses_total{class="2xx"} '],
  [3, 'sluice_responses_total{class="3xx"} '],
  [4, 'sluice_responses_total{class="4xx"} '],
  [5, 'sluice_responses_total{class="5xx"} '],
  [0, 'sluice_responses_total{class="other"} '],
]

function renderSummary (family: SummaryFamily, summary: LatencySummary): string {
  let out = family.header
  for (let i = 0; i < family.quantilePrefixes.length; i++) {
    out += `${family.quantilePrefixes[i] ?? ''}${formatSampleValue(summary.quantileMs(i) * SECONDS_PER_MS)}\n`
  }
  out += `${family.sumPrefix}${formatSampleValue(summary.sumMs * SECONDS_PER_MS)}\n`
  out += `${family.countPrefix}${summary.count}\n`
  return out
}

/** Sluice's metrics (no labels except quantile/class: they describe this process). */
export function renderProxyMetrics (metrics: ProxyMetrics): string {
  const gauges = metrics.gauges()
  let out = renderSummary(LATENCY, metrics.latency) +
    renderSummary(QUEUE_WAIT, metrics.queueWait) +
    renderSummary(UPSTREAM_FIRST_BYTE, metrics.upstreamFirstByte) +
    `${IN_FLIGHT_HEADER}sluice_in_flight_requests ${formatSampleValue(gauges.inFlight)}\n` +
    `${QUEUE_DEPTH_HEADER}sluice_queue_depth ${formatSampleValue(gauges.queueDepth)}\n` +
    `${OVERFLOW_HEADER}sluice_overflow_total ${metrics.overflow503}\n` +
    `${UPSTREAM_ERRORS_HEADER}sluice_upstream_errors_total ${metrics.upstream502}\n` +
    `${TIMEOUTS_HEADER}sluice_timeouts_total ${metrics.timeout504}\n` +
    RESPONSES_HEADER
  for (const [cls, prefix] of RESPONSE_CLASSES) out += `${prefix}${metrics.responses(cls)}\n`
  return out
}
