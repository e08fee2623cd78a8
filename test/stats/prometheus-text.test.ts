import t from 'tap'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import type { PromFamily } from 'parse-prometheus-text-format'
import { ProxyMetrics } from '../../src/stats/proxy-metrics.ts'
import {
  escapeHelp,
  escapeLabelValue,
  formatSampleValue,
  PROMETHEUS_CONTENT_TYPE,
  renderProxyMetrics,
  renderQueueMetrics,
} from '../../src/stats/prometheus-text.ts'
import type { LabeledStat } from '../../src/stats/stat.ts'

const ENTRIES: LabeledStat[] = [
  {
    labels: { namespace: 'default', configuration: 'hello', revision: 'hello-00001', pod: 'hello-00001-abc' },
    stat: { podName: 'hello-00001-abc', averageConcurrentRequests: 1.5, averageProxiedConcurrentRequests: 0.25, requestCount: 12, proxiedRequestCount: 3, processUptime: 42.5, timestamp: 0 },
  },
  {
    // Every character the text format makes us escape.
    labels: { namespace: 'we"ird', configuration: 'back\\slash', revision: 'new\nline', pod: 'pöd-🚀' },
    stat: { podName: 'x', averageConcurrentRequests: 1e-7, averageProxiedConcurrentRequests: 0, requestCount: 0, proxiedRequestCount: 0, processUptime: 1, timestamp: 0 },
  },
]

function family (families: PromFamily[], name: string): PromFamily {
  const f = families.find((x) => x.name === name)
  if (f === undefined) throw new Error(`no family ${name}`)
  return f
}

t.test('Knative queue gauges: names, HELP, TYPE, labels and values for several label sets', async (t) => {
  const families = parsePrometheusTextFormat(renderQueueMetrics(ENTRIES))
  const expected: Array<[string, (e: LabeledStat) => number]> = [
    ['queue_requests_per_second', (e) => e.stat.requestCount],
    ['queue_proxied_operations_per_second', (e) => e.stat.proxiedRequestCount],
    ['queue_average_concurrent_requests', (e) => e.stat.averageConcurrentRequests],
    ['queue_average_proxied_concurrent_requests', (e) => e.stat.averageProxiedConcurrentRequests],
    ['process_uptime', (e) => e.stat.processUptime],
  ]
  t.same(families.map((f) => f.name), expected.map(([n]) => n))
  for (const [name, value] of expected) {
    const f = family(families, name)
    t.equal(f.type, 'GAUGE', `${name} type`)
    t.ok(f.help.length > 0, `${name} help`)
    t.equal(f.metrics.length, ENTRIES.length, `${name} one sample per label set`)
    ENTRIES.forEach((e, i) => {
      const m = f.metrics[i]
      t.same(m?.labels, {
        destination_namespace: e.labels.namespace,
        destination_configuration: e.labels.configuration,
        destination_revision: e.labels.revision,
        destination_pod: e.labels.pod,
      }, `${name} labels ${i}`)
      t.equal(Number(m?.value), value(e), `${name} value ${i}`)
    })
  }
  t.equal(family(families, 'queue_requests_per_second').help, 'Number of requests per second')
})

t.test('no label sets renders nothing', async (t) => {
  t.equal(renderQueueMetrics([]), '')
})

t.test('escaping and number formatting follow the text format', async (t) => {
  t.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd')
  t.equal(escapeHelp('a"b\\c\nd'), 'a"b\\\\c\\nd')
  t.equal(formatSampleValue(Number.NaN), 'NaN')
  t.equal(formatSampleValue(Number.POSITIVE_INFINITY), '+Inf')
  t.equal(formatSampleValue(Number.NEGATIVE_INFINITY), '-Inf')
  t.equal(formatSampleValue(0.5), '0.5')
  t.equal(formatSampleValue(1e-7), '1e-7')
  t.equal(PROMETHEUS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8')
  t.match(renderQueueMetrics(ENTRIES), 'destination_namespace="we\\"ird",destination_configuration="back\\\\slash",destination_revision="new\\nline"')
})

t.test('ProxyMetrics: summaries, gauges and counters', async (t) => {
  const gauges = { inFlight: 7, queueDepth: 2 }
  const metrics = new ProxyMetrics({ gauges: () => gauges })
  for (let i = 1; i <= 1000; i++) metrics.recordLatencyMs(i) // 1..1000 ms
  metrics.recordQueueWaitMs(5)
  metrics.incOverflow503()
  metrics.incOverflow503()
  metrics.incUpstream502()
  metrics.incTimeout504()
  metrics.incResponse(200)
  metrics.incResponse(204)
  metrics.incResponse(503)
  metrics.incResponse(99)
  metrics.tick(0)

  const families = parsePrometheusTextFormat(renderProxyMetrics(metrics))
  t.same(families.map((f) => [f.name, f.type]), [
    ['sluice_request_latency_seconds', 'SUMMARY'],
    ['sluice_queue_wait_seconds', 'SUMMARY'],
    ['sluice_upstream_first_byte_seconds', 'SUMMARY'],
    ['sluice_in_flight_requests', 'GAUGE'],
    ['sluice_queue_depth', 'GAUGE'],
    ['sluice_overflow_total', 'COUNTER'],
    ['sluice_upstream_errors_total', 'COUNTER'],
    ['sluice_timeouts_total', 'COUNTER'],
    ['sluice_responses_total', 'COUNTER'],
  ])
  const latency = family(families, 'sluice_request_latency_seconds').metrics[0]
  t.same(Object.keys(latency?.quantiles ?? {}), ['0.5', '0.9', '0.99', '0.999'])
  const expectQ: Record<string, number> = { 0.5: 0.5, 0.9: 0.9, 0.99: 0.99, 0.999: 0.999 }
  for (const [q, v] of Object.entries(latency?.quantiles ?? {})) {
    const want = expectQ[q] ?? Number.NaN
    t.ok(Math.abs(Number(v) - want) <= want * 0.001 + 1e-9, `latency q${q} = ${v} ~ ${want}`)
  }
  t.equal(Number(latency?.count), 1000)
  t.ok(Math.abs(Number(latency?.sum) - 500.5) < 1e-9, 'sum in seconds')
  const wait = family(families, 'sluice_queue_wait_seconds').metrics[0]
  t.equal(Number(wait?.count), 1)
  t.ok(Math.abs(Number(wait?.sum) - 0.005) < 1e-12)
  // An empty summary: quantiles NaN (Prometheus convention), count 0.
  const upstream = family(families, 'sluice_upstream_first_byte_seconds').metrics[0]
  t.equal(upstream?.quantiles?.['0.5'], 'NaN')
  t.equal(upstream?.count, '0')
  t.equal(family(families, 'sluice_in_flight_requests').metrics[0]?.value, '7')
  t.equal(family(families, 'sluice_queue_depth').metrics[0]?.value, '2')
  t.equal(family(families, 'sluice_overflow_total').metrics[0]?.value, '2')
  t.equal(family(families, 'sluice_upstream_errors_total').metrics[0]?.value, '1')
  t.equal(family(families, 'sluice_timeouts_total').metrics[0]?.value, '1')
  t.same(family(families, 'sluice_responses_total').metrics.map((m) => [m.labels?.class, m.value]), [
    ['1xx', '0'], ['2xx', '2'], ['3xx', '0'], ['4xx', '0'], ['5xx', '1'], ['other', '1'],
  ])
  // Gauges are read at render time, not cached.
  gauges.inFlight = 9
  t.equal(family(parsePrometheusTextFormat(renderProxyMetrics(metrics)), 'sluice_in_flight_requests').metrics[0]?.value, '9')
})

t.test('queue gauges and ProxyMetrics concatenate into one valid exposition', async (t) => {
  const text = renderQueueMetrics(ENTRIES.slice(0, 1)) + renderProxyMetrics(new ProxyMetrics())
  const families = parsePrometheusTextFormat(text)
  t.equal(families.length, 5 + 9)
  t.equal(new Set(families.map((f) => f.name)).size, families.length, 'no family repeats')
  t.ok(text.endsWith('\n'))
})
