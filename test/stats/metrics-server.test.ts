import t from 'tap'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import protobuf from 'protobufjs'
import { fileURLToPath } from 'node:url'
import { ManualClock } from '../../src/shared/clock.ts'
import { createMetricsServer, DEFAULT_METRICS_PORT } from '../../src/stats/metrics-server.ts'
import type { MetricsSource } from '../../src/stats/metrics-server.ts'
import { ProxyMetrics } from '../../src/stats/proxy-metrics.ts'
import { buildStatSnapshot } from '../../src/stats/stat-snapshot.ts'
import { StatsReporter } from '../../src/stats/stats-reporter.ts'

const PbStat = protobuf.loadSync(fileURLToPath(new URL('../../src/stats/stat.proto', import.meta.url))).lookupType('metrics.Stat')

interface Reply { status: number, headers: Record<string, string | string[] | undefined>, body: Buffer }

function get (port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, timeout: 3000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error('request timed out')) })
    req.on('error', reject)
    req.end()
  })
}

async function listen (t: Teardown, source: MetricsSource): Promise<number> {
  const server = createMetricsServer(source)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => { resolve() })
  }))
  const address: AddressInfo | string | null = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

type Teardown = Pick<typeof t, 'teardown'>

function sidecarSource (): { reporter: StatsReporter, metrics: ProxyMetrics, clock: ManualClock } {
  const clock = new ManualClock(0)
  const metrics = new ProxyMetrics({ gauges: () => ({ inFlight: 3, queueDepth: 1 }) })
  const reporter = new StatsReporter({ podName: 'hello-00001-abc', namespace: 'default', configuration: 'hello', revision: 'hello-00001', clock, proxyMetrics: metrics })
  reporter.stats.reqIn(false, 0)
  reporter.stats.reqIn(true, 0)
  reporter.stats.reqOut(true, 500)
  metrics.recordLatencyMs(4)
  metrics.incResponse(200)
  clock.advance(1000)
  reporter.tick()
  return { reporter, metrics, clock }
}

t.test('Accept: application/protobuf -> the Stat, decoded independently', async (t) => {
  const { reporter } = sidecarSource()
  const port = await listen(t, reporter)
  for (const path of ['/metrics', '/']) {
    const res = await get(port, path, { accept: 'application/protobuf' })
    t.equal(res.status, 200)
    t.equal(res.headers['content-type'], 'application/protobuf', 'exactly what the autoscaler requires')
    const obj = PbStat.toObject(PbStat.decode(res.body), { longs: String, defaults: true })
    t.same(obj, {
      podName: 'hello-00001-abc',
      averageConcurrentRequests: 1.5,
      averageProxiedConcurrentRequests: 0.5,
      requestCount: 2,
      proxiedRequestCount: 1,
      processUptime: 1,
      timestamp: '0',
    })
  }
  // Knative's autoscaler sends exactly this; other Accept values containing it also match.
  const mixed = await get(port, '/metrics', { accept: 'text/plain, application/protobuf;q=0.9' })
  t.equal(mixed.headers['content-type'], 'application/protobuf')
})

t.test('default -> Prometheus text with Knative gauges and Sluice metrics', async (t) => {
  const { reporter } = sidecarSource()
  const port = await listen(t, reporter)
  for (const accept of [undefined, 'text/plain', '*/*']) {
    const res = await get(port, '/metrics', accept === undefined ? {} : { accept })
    t.equal(res.status, 200)
    t.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
    const families = parsePrometheusTextFormat(res.body.toString('utf8'))
    const conc = families.find((f) => f.name === 'queue_average_concurrent_requests')
    t.same(conc?.metrics, [{
      value: '1.5',
      labels: { destination_namespace: 'default', destination_configuration: 'hello', destination_revision: 'hello-00001', destination_pod: 'hello-00001-abc' },
    }])
    t.equal(families.find((f) => f.name === 'sluice_in_flight_requests')?.metrics[0]?.value, '3')
    t.equal(families.find((f) => f.name === 'sluice_request_latency_seconds')?.metrics[0]?.count, '1')
  }
})

t.test('Accept: application/json or ?format=json -> one JSON object (documented schema)', async (t) => {
  const { reporter } = sidecarSource()
  const port = await listen(t, reporter)
  const viaAccept = await get(port, '/metrics', { accept: 'application/json' })
  const viaQuery = await get(port, '/metrics?format=json', { accept: 'application/protobuf' })
  for (const res of [viaAccept, viaQuery]) {
    t.equal(res.status, 200)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    const body: unknown = JSON.parse(res.body.toString('utf8'))
    t.match(body, {
      stats: [{
        namespace: 'default',
        configuration: 'hello',
        revision: 'hello-00001',
        pod: 'hello-00001-abc',
        podName: 'hello-00001-abc',
        averageConcurrentRequests: 1.5,
        averageProxiedConcurrentRequests: 0.5,
        requestCount: 2,
        proxiedRequestCount: 1,
        processUptime: 1,
        timestamp: 0,
      }],
      proxy: {
        inFlight: 3,
        queueDepth: 1,
        overflow503: 0,
        upstream502: 0,
        timeout504: 0,
        responses: { '1xx': 0, '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 },
        latencyMs: { p50: Number, p90: Number, p99: Number, p999: Number, count: 1, sumMs: 4 },
        queueWaitMs: { p50: null, p90: null, p99: null, p999: null, count: 0, sumMs: 0 },
        upstreamFirstByteMs: { p50: null, count: 0 },
      },
    })
    t.same(Object.keys(body instanceof Object ? body : {}), ['stats', 'proxy'])
  }
  const prom = await get(port, '/?format=prometheus', { accept: 'application/json' })
  t.equal(prom.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  const pb = await get(port, '/metrics?format=protobuf')
  t.equal(pb.headers['content-type'], 'application/protobuf')
})

t.test('other paths 404, other methods 405, HEAD has headers only', async (t) => {
  const { reporter } = sidecarSource()
  const port = await listen(t, reporter)
  t.equal((await get(port, '/metricsx')).status, 404)
  t.equal((await get(port, '/healthz')).status, 404)
  t.equal((await get(port, '/metrics/')).status, 404)
  const post = await get(port, '/metrics', {}, 'POST')
  t.equal(post.status, 405)
  t.equal(post.headers.allow, 'GET, HEAD')
  t.equal((await get(port, '/', {}, 'DELETE')).status, 405)
  const head = await get(port, '/metrics', { accept: 'application/protobuf' }, 'HEAD')
  t.equal(head.status, 200)
  t.equal(head.body.length, 0)
  t.equal(Number(head.headers['content-length']), reporter.snapshot().protobuf?.length)
})

t.test('50 parallel scrapes in mixed formats all succeed', async (t) => {
  const { reporter } = sidecarSource()
  const port = await listen(t, reporter)
  const accepts = ['application/protobuf', 'application/json', 'text/plain']
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => get(port, '/metrics', { accept: accepts[i % 3] ?? '' })))
  t.ok(replies.every((r) => r.status === 200), 'all 200')
  const pb = replies.filter((r) => r.headers['content-type'] === 'application/protobuf')
  t.equal(pb.length, 17)
  t.ok(pb.every((r) => r.body.equals(pb[0]?.body ?? Buffer.alloc(0))), 'same stat for the same period')
})

t.test('a scrape sees the last closed period, not the live one', async (t) => {
  const { reporter, clock } = sidecarSource()
  const port = await listen(t, reporter)
  reporter.stats.reqIn(false, clock.nowMs()) // in the open period
  const before = PbStat.toObject(PbStat.decode((await get(port, '/', { accept: 'application/protobuf' })).body))
  t.equal(before.requestCount, 2)
  clock.advance(1000)
  reporter.tick()
  const after = PbStat.toObject(PbStat.decode((await get(port, '/', { accept: 'application/protobuf' })).body))
  t.equal(after.requestCount, 1)
  t.equal(after.averageConcurrentRequests, 2)
})

t.test('a multi-revision source (activator): Prometheus per label set, protobuf 406, no ProxyMetrics', async (t) => {
  const stat = { podName: 'activator-1', averageConcurrentRequests: 1, averageProxiedConcurrentRequests: 0, requestCount: 1, proxiedRequestCount: 0, processUptime: 0, timestamp: 0 }
  const snapshot = buildStatSnapshot([
    { labels: { namespace: 'a', configuration: 'c', revision: 'r1', pod: 'activator-1' }, stat },
    { labels: { namespace: 'a', configuration: 'c', revision: 'r2', pod: 'activator-1' }, stat: { ...stat, averageConcurrentRequests: 2 } },
  ])
  const port = await listen(t, { snapshot: () => snapshot, proxyMetrics: null })
  const text = await get(port, '/metrics')
  const conc = parsePrometheusTextFormat(text.body.toString('utf8')).find((f) => f.name === 'queue_average_concurrent_requests')
  t.same(conc?.metrics.map((m) => [m.labels?.destination_revision, m.value]), [['r1', '1'], ['r2', '2']])
  t.equal((await get(port, '/metrics', { accept: 'application/protobuf' })).status, 406)
  const json: unknown = JSON.parse((await get(port, '/?format=json')).body.toString('utf8'))
  t.match(json, { stats: [{ revision: 'r1' }, { revision: 'r2', averageConcurrentRequests: 2 }], proxy: null })
})

t.test('a throwing source becomes a 500, the server keeps serving', async (t) => {
  let fail = true
  const { reporter } = sidecarSource()
  const port = await listen(t, {
    snapshot: () => { if (fail) throw new Error('boom'); return reporter.snapshot() },
    proxyMetrics: null,
  })
  t.equal((await get(port, '/metrics')).status, 500)
  fail = false
  t.equal((await get(port, '/metrics')).status, 200)
  t.equal(DEFAULT_METRICS_PORT, 9090)
})
