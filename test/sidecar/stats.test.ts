import { request } from 'node:http'
import t from 'tap'
import { ManualClock } from '../../src/shared/clock.ts'
import { decodeStat } from '../../src/stats/stat-proto.ts'
import { send, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'

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

t.test('10 concurrent slow requests for a whole 1 s period: scraped average concurrency in [9.5, 10.5]; RPS counts every request', async (t) => {
  const held: Array<() => void> = []
  const app = await startApp(t, (req, res) => {
    if (req.url === '/slow') held.push(() => { res.end('ok') })
    else res.end('ok')
  })
  // Periods close on the injected clock: the reporter's own 1 s timer is stopped and the test
  // closes each period with tick(), so a period is exactly as long as the clock advanced.
  const clock = new ManualClock()
  const { url, ports, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '10', SERVING_POD: 'pod-a' }, [], { clock })
  sidecar.stats.stop()
  const scrapeStat = async (): Promise<ReturnType<typeof decodeStat>> => decodeStat((await scrape(ports.metrics, 'application/protobuf')).body)
  const slow = Array.from({ length: 10 }, () => send(`${url}/slow`))
  await until(() => app.inFlight === 10, 2000, '10 slow requests at the app')
  sidecar.stats.tick() // closes the period in which they arrived
  clock.advance(1_000)
  sidecar.stats.tick() // a whole 1 s period inside the requests' lifetime
  const stat = await scrapeStat()
  t.ok(stat.averageConcurrentRequests >= 9.5 && stat.averageConcurrentRequests <= 10.5, `average concurrency ${stat.averageConcurrentRequests}`)
  t.equal(stat.processUptime, 1, 'uptime on the injected clock')
  for (const release of held.splice(0)) release()
  await Promise.all(slow)

  // RPS: 50 quick requests over two 1 s periods; summing request_count (per second, 1 s periods)
  // over the periods that follow gives the number served.
  clock.advance(1_000)
  sidecar.stats.tick() // the period in which the slow ones ended
  const seen = new Map<number, number>()
  const quick = await Promise.all(Array.from({ length: 30 }, () => send(`${url}/quick`)))
  clock.advance(1_000)
  sidecar.stats.tick()
  let s = await scrapeStat()
  seen.set(s.processUptime, s.requestCount)
  quick.push(...await Promise.all(Array.from({ length: 20 }, () => send(`${url}/quick`))))
  t.ok(quick.every((r) => r.status === 200))
  clock.advance(1_000)
  sidecar.stats.tick()
  s = await scrapeStat()
  seen.set(s.processUptime, s.requestCount)
  clock.advance(1_000)
  sidecar.stats.tick()
  s = await scrapeStat()
  seen.set(s.processUptime, s.requestCount)
  t.same([...seen.values()], [30, 20, 0], 'request_count per period')
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
