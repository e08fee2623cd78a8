import { request } from 'node:http'
import t from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { send, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'

t.test('revision timeout answers 504 "request timeout" when nothing was sent yet, and frees the slot', async (t) => {
  const app = await startApp(t, () => { /* never answers */ })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1', REVISION_TIMEOUT_SECONDS: '1' })
  const started = performance.now()
  const r = await send(url)
  const took = performance.now() - started
  t.equal(r.status, 504)
  t.equal(r.body, 'request timeout')
  t.ok(took >= 990 && took < 1600, `fired after ~1 s (${Math.round(took)} ms)`)
  t.equal(sidecar.breaker?.inFlight, 0)
  t.equal(sidecar.metrics.timeout504, 1)
  await until(() => app.inFlight === 0, 2000, 'upstream request aborted')
})

t.test('revision timeout also bounds time spent queued', async (t) => {
  const app = await startApp(t, () => { /* never answers */ })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1', REVISION_TIMEOUT_SECONDS: '1' })
  const [a, b] = await Promise.all([send(url), send(url)])
  t.same([a.status, b.status], [504, 504])
  t.equal(sidecar.breaker?.queued, 0)
  t.equal(sidecar.breaker?.inFlight, 0)
})

t.test('after the response started, a revision timeout cuts the connection', async (t) => {
  const app = await startApp(t, (_req, res) => { res.writeHead(200); res.write('started') })
  const { url } = await startSidecar(t, app.port, { REVISION_TIMEOUT_SECONDS: '1' })
  const outcome = await new Promise<string>((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      res.on('data', () => {})
      res.on('error', () => { resolve('aborted') })
      res.on('end', () => { resolve('ended') })
    })
    req.on('error', () => { resolve('aborted') })
    req.end()
  })
  t.equal(outcome, 'aborted', 'client sees a broken response, not a clean end')
})

t.test('response-start timeout fires only before the first byte', async (t) => {
  const app = await startApp(t, (req, res) => {
    if (req.url === '/slow-start') return // never answers
    res.writeHead(200) // answers at once, then trickles for 1.5 s
    const iv = setInterval(() => { res.write('.') }, 200)
    setTimeout(() => { clearInterval(iv); res.end('done') }, 1500)
  })
  const { url } = await startSidecar(t, app.port, { REVISION_RESPONSE_START_TIMEOUT_SECONDS: '1' })
  const slow = await send(`${url}/slow-start`)
  t.equal(slow.status, 504)
  t.equal(slow.body, 'request timeout')
  const trickle = await send(`${url}/trickle`)
  t.equal(trickle.status, 200)
  t.match(trickle.body, /done$/, 'a started response outlives the response-start timeout')
})

t.test('idle timeout fires when the response stalls', async (t) => {
  const app = await startApp(t, (req, res) => {
    if (req.url === '/silent') return
    res.writeHead(200)
    res.write('a') // then silence
  })
  const { url } = await startSidecar(t, app.port, { REVISION_IDLE_TIMEOUT_SECONDS: '1' })
  const silent = await send(`${url}/silent`)
  t.equal(silent.status, 504, 'nothing written: 504')
  const stalled = await new Promise<string>((resolve) => {
    const req = request(`${url}/stall`, { agent: false }, (res) => {
      res.on('data', () => {})
      res.on('error', () => { resolve('aborted') })
      res.on('end', () => { resolve('ended') })
    })
    req.on('error', () => { resolve('aborted') })
    req.end()
  })
  t.equal(stalled, 'aborted')
})

t.test('a websocket is not cut by the response-start timeout (Knative bug 16169)', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end() })
  const wss = new WebSocketServer({ server: app.server })
  wss.on('connection', (ws) => { ws.on('message', (m) => { ws.send(`echo:${m.toString()}`) }) })
  t.teardown(() => { wss.close() })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1', REVISION_RESPONSE_START_TIMEOUT_SECONDS: '1' })
  const ws = new WebSocket(url.replace('http', 'ws') + '/ws')
  await new Promise<void>((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject) })
  t.equal(sidecar.breaker?.inFlight, 1, 'an open websocket holds a concurrency slot')
  await new Promise((resolve) => { setTimeout(resolve, 1500) })
  const reply = await new Promise<string>((resolve) => { ws.once('message', (m) => { resolve(m.toString()) }); ws.send('still here') })
  t.equal(reply, 'echo:still here', 'alive after 1.5 s')
  ws.close()
  await until(() => sidecar.breaker?.inFlight === 0, 2000, 'slot released on close')
})
