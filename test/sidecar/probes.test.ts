import t from 'tap'
import { send, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'

const KUBELET = { 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'queue' }

t.test('health checks are answered by the sidecar on any path, never forwarded, never counted', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end('app') })
  const { url, sidecar } = await startSidecar(t, app.port)
  await until(() => sidecar.prober.isReady, 2000, 'ready')
  const cases: Array<[string, Record<string, string>]> = [
    ['kubelet UA', KUBELET],
    ['K-Kubelet-Probe header', { 'k-kubelet-probe': 'queue', 'k-network-probe': 'queue' }],
    ['activator probe', { 'user-agent': 'Knative-Activator-Probe', 'k-network-probe': 'queue' }],
    ['autoscaler probe', { 'user-agent': 'Knative-Autoscaling-Probe', 'k-network-probe': 'queue' }],
  ]
  for (const [name, headers] of cases) {
    const r = await send(`${url}/any/path`, { headers })
    t.equal(r.status, 200, name)
    t.equal(r.body, 'queue', name)
  }
  t.equal(app.requests, 0, 'no probe reached the app')
  sidecar.stats.tick()
  t.equal(sidecar.stats.latest().requestCount, 0, 'probes are not in stats')
})

t.test('a health check without K-Network-Probe: queue is a 400', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end('app') })
  const { url } = await startSidecar(t, app.port)
  const r = await send(url, { headers: { 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'other' } })
  t.equal(r.status, 400)
  t.equal(r.body, 'unexpected probe header value: other\n')
})

t.test('health check is 503 while the user container is not listening', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end() })
  const port = app.port
  await new Promise<void>((resolve) => { app.server.close(() => { resolve() }) })
  const { url } = await startSidecar(t, port, { SERVING_READINESS_PROBE: JSON.stringify({ tcpSocket: { port }, periodSeconds: 1, timeoutSeconds: 1 }) })
  const r = await send(url, { headers: KUBELET })
  t.equal(r.status, 503)
})

t.test('the pod is reported ready within tens of ms of the user container listening', async (t) => {
  const holder = await startApp(t, (_req, res) => { res.end() })
  const port = holder.port
  await new Promise<void>((resolve) => { holder.server.close(() => { resolve() }) })
  const { url, sidecar } = await startSidecar(t, port)
  // (A health check now would hold for up to 10 s: Knative's aggressive poll window.)
  await new Promise((resolve) => { setTimeout(resolve, 100) })
  t.notOk(sidecar.prober.isReady, 'not ready before the app listens')
  const { createServer } = await import('node:http')
  const late = createServer((_req, res) => { res.end() })
  t.teardown(() => { late.close() })
  await new Promise<void>((resolve) => { late.listen(port, '127.0.0.1', resolve) })
  const listenedAt = performance.now()
  let readyAt = 0
  while (performance.now() - listenedAt < 2000) {
    const r = await send(url, { headers: KUBELET })
    if (r.status === 200) { readyAt = performance.now(); break }
  }
  t.ok(readyAt > 0, 'became ready')
  t.ok(readyAt - listenedAt < 150, `ready ${Math.round(readyAt - listenedAt)} ms after listen`)
})

t.test('ingress probe echoes K-Network-Hash; empty hash is a 400', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end('app') })
  const { url } = await startSidecar(t, app.port)
  const r = await send(url, { headers: { 'k-network-probe': 'probe', 'k-network-hash': 'abc123' } })
  t.equal(r.status, 200)
  t.equal(r.headers['k-network-hash'], 'abc123')
  const bad = await send(url, { headers: { 'k-network-probe': 'probe' } })
  t.equal(bad.status, 400)
  t.equal(bad.body, 'a probe request must contain a non-empty "K-Network-Hash" header\n', "Knative's words (the activator's too)")
  t.equal(app.requests, 0)
})

t.test('an HTTP readiness probe runs against the user container with its headers', async (t) => {
  let probeHeaders: Record<string, string | string[] | undefined> = {}
  let healthy = false
  const app = await startApp(t, (req, res) => {
    if (req.url === '/healthz') { probeHeaders = req.headers; res.writeHead(healthy ? 200 : 500); res.end(); return }
    res.end('app')
  })
  const probe = { httpGet: { path: '/healthz', port: app.port, httpHeaders: [{ name: 'X-Probe', value: 'yes' }] }, periodSeconds: 1, timeoutSeconds: 1 }
  const { url } = await startSidecar(t, app.port, { SERVING_READINESS_PROBE: JSON.stringify(probe) })
  t.equal((await send(url, { headers: KUBELET })).status, 503, 'unhealthy app')
  healthy = true
  t.equal((await send(url, { headers: KUBELET })).status, 200, 'healthy app')
  t.equal(probeHeaders['x-probe'], 'yes')
  t.match(String(probeHeaders['user-agent']), /^kube-probe\//)
})
