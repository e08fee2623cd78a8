// The metrics endpoint's JSON form (schema version 1, documented in src/stats/stats-json.ts).
import t from 'tap'
import { ProxyMetrics } from '../../src/stats/proxy-metrics.ts'
import { emptyStat } from '../../src/stats/stat.ts'
import { renderProxyMetricsJson, renderStatsJson } from '../../src/stats/stats-json.ts'

t.test('stats: one entry per label set, labels first, then the Stat fields', async (t) => {
  const stat = { ...emptyStat('hello-00001-abc'), averageConcurrentRequests: 1.5, requestCount: 12, processUptime: 42.001 }
  const text = renderStatsJson([
    { labels: { namespace: 'default', configuration: 'hello', revision: 'hello-00001', pod: 'hello-00001-abc' }, stat },
    { labels: { namespace: 'ns2', configuration: 'c', revision: 'r', pod: 'p' }, stat: emptyStat('p') },
  ])
  const parsed = JSON.parse(text) as Array<Record<string, unknown>>
  t.equal(parsed.length, 2)
  t.same(Object.keys(parsed[0] ?? {}), ['namespace', 'configuration', 'revision', 'pod', 'podName', 'averageConcurrentRequests',
    'averageProxiedConcurrentRequests', 'requestCount', 'proxiedRequestCount', 'processUptime', 'timestamp'])
  t.match(parsed[0], { namespace: 'default', revision: 'hello-00001', podName: 'hello-00001-abc', averageConcurrentRequests: 1.5, requestCount: 12, processUptime: 42.001, timestamp: 0 })
  t.match(parsed[1], { namespace: 'ns2', requestCount: 0 })
  t.equal(renderStatsJson([]), '[]')
})

t.test('proxy: null without metrics', async (t) => {
  t.equal(renderProxyMetricsJson(null), 'null')
})

t.test('proxy: gauges at render time, counters, responses by class, and null percentiles while the window is empty', async (t) => {
  let inFlight = 3
  const m = new ProxyMetrics({ gauges: () => ({ inFlight, queueDepth: 1 }) })
  m.incOverflow503()
  m.incUpstream502()
  m.incUpstream502()
  m.incTimeout504()
  // A different count per class, so a class read from the wrong slot shows.
  const statuses = [101, 200, 204, 301, 302, 304, 400, 404, 410, 429, 500, 502, 503, 504, 599, 0, 99, 600, 700, 999, 42]
  for (const s of statuses) m.incResponse(s)
  const empty = JSON.parse(renderProxyMetricsJson(m)) as Record<string, unknown>
  t.same(empty, {
    inFlight: 3,
    queueDepth: 1,
    overflow503: 1,
    upstream502: 2,
    timeout504: 1,
    responses: { '1xx': 1, '2xx': 2, '3xx': 3, '4xx': 4, '5xx': 5, other: 6 },
    latencyMs: { p50: null, p90: null, p99: null, p999: null, count: 0, sumMs: 0 },
    queueWaitMs: { p50: null, p90: null, p99: null, p999: null, count: 0, sumMs: 0 },
    upstreamFirstByteMs: { p50: null, p90: null, p99: null, p999: null, count: 0, sumMs: 0 },
  })
  inFlight = 5
  for (let i = 1; i <= 100; i++) m.recordLatencyMs(i)
  m.tick(1_000)
  const full = JSON.parse(renderProxyMetricsJson(m)) as { inFlight: number, latencyMs: Record<string, number> }
  t.equal(full.inFlight, 5, 'gauges are read at render time')
  t.equal(full.latencyMs.count, 100)
  t.equal(full.latencyMs.sumMs, 5_050)
  t.ok(Math.abs((full.latencyMs.p50 ?? 0) - 50) <= 2, `p50 ~ 50 (got ${full.latencyMs.p50})`)
  t.ok((full.latencyMs.p99 ?? 0) >= 97, `p99 near the top (got ${full.latencyMs.p99})`)
})
