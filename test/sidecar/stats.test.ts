import { request } from 'node:http'
import t from 'tap'
import { decodeStat } from '../../src/stats/stat-proto.ts'
import { send, sleep, startApp, startSidecar } from '../helpers/sidecar-fixture.ts'

function scrape (port: number, accept: string): Promise<{ type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', headers: { accept }, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ type: String(res.headers['content-type']), body: Buffer.concat(chunks) }) })
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('10 concurrent slow requests for 2 s: scraped average concurrency in [9.5, 10.5]; RPS counts every request', async (t) => {
  const app = await startApp(t, (req, res) => { setTimeout(() => { res.end('ok') }, req.url === '/slow' ? 2500 : 1) })
  const { url, ports } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '10', SERVING_POD: 'pod-a' })
  const slow = Array.from({ length: 10 }, () => send(`${url}/slow`))
  await sleep(2200) // the last closed 1 s period lies wholly inside the requests' lifetime
  const stat = decodeStat((await scrape(ports.metrics, 'application/protobuf')).body)
  t.ok(stat.averageConcurrentRequests >= 9.5 && stat.averageConcurrentRequests <= 10.5, `average concurrency ${stat.averageConcurrentRequests}`)
  await Promise.all(slow)

  // RPS: 50 quick requests; summing request_count (per second, 1 s periods) over the periods that
  // follow gives the number served.
  const seen = new Map<number, number>()
  const uptimeNow = decodeStat((await scrape(ports.metrics, 'application/protobuf')).body).processUptime
  const quick = await Promise.all(Array.from({ length: 50 }, () => send(`${url}/quick`)))
  t.ok(quick.every((r) => r.status === 200))
  const until = performance.now() + 2600
  while (performance.now() < until) {
    const s = decodeStat((await scrape(ports.metrics, 'application/protobuf')).body)
    if (s.processUptime > uptimeNow) seen.set(Math.round(s.processUptime), s.requestCount)
    await sleep(200)
  }
  const total = [...seen.values()].reduce((a, b) => a + b, 0)
  t.equal(total, 50, `request_count over ${seen.size} periods`)
})

t.test('metrics port speaks protobuf, Prometheus text with Knative names, and JSON', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end('ok') })
  const { url, ports, sidecar } = await startSidecar(t, app.port, { SERVING_POD: 'pod-a', SERVING_REVISION: 'rev-1', SERVING_NAMESPACE: 'ns', SERVING_CONFIGURATION: 'cfg' })
  await send(url, { headers: { 'k-proxy-request': 'activator' } })
  await send(url)
  sidecar.stats.tick()
  const pb = await scrape(ports.metrics, 'application/protobuf')
  t.equal(pb.type, 'application/protobuf')
  const stat = decodeStat(pb.body)
  t.equal(stat.podName, 'pod-a')
  t.ok(stat.requestCount > 0)
  t.ok(stat.proxiedRequestCount > 0 && stat.proxiedRequestCount < stat.requestCount, 'proxied split')
  const text = (await scrape(ports.metrics, 'text/plain')).body.toString()
  t.match(text, /queue_requests_per_second\{[^}]*destination_revision="rev-1"/)
  t.match(text, /destination_pod="pod-a"/)
  t.match(text, /sluice_request_latency_seconds/)
  const json = JSON.parse((await scrape(ports.metrics, 'application/json')).body.toString()) as { stats: Array<{ pod: string }> }
  t.equal(json.stats[0]?.pod, 'pod-a')
})

t.test('--server-timing adds queue and upstream durations', async (t) => {
  const app = await startApp(t, (_req, res) => { setTimeout(() => { res.end('ok') }, 20) })
  const { url } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, ['--server-timing'])
  const [a, b] = await Promise.all([send(url), send(url)])
  for (const r of [a, b]) t.match(String(r.headers['server-timing']), /^queue;dur=[\d.]+, upstream;dur=[\d.]+$/)
  const queued = [a, b].map((r) => Number(/queue;dur=([\d.]+)/.exec(String(r.headers['server-timing']))?.[1]))
  t.ok(Math.max(...queued) >= 15, 'the second request shows its wait behind the first')
})
