import { request } from 'node:http'
import t, { type Test } from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { ManualClock } from '../../src/shared/clock.ts'
import { send, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'
import { STACKS, stackTests, type Stack } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', STACKS, { parallel: true })

test('revision timeout answers 504 "request timeout" when nothing was sent yet, and frees the slot', async (t, stack) => {
  const app = await startApp(t, () => { /* never answers */ })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1', REVISION_TIMEOUT_SECONDS: '1' }, stack.argv)
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

test('revision timeout also bounds time spent queued', async (t, stack) => {
  const app = await startApp(t, () => { /* never answers */ })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1', REVISION_TIMEOUT_SECONDS: '1' }, stack.argv)
  const [a, b] = await Promise.all([send(url), send(url)])
  t.same([a.status, b.status], [504, 504])
  t.equal(sidecar.breaker?.queued, 0)
  t.equal(sidecar.breaker?.inFlight, 0)
})

test('after the response started, a revision timeout cuts the connection', async (t, stack) => {
  const app = await startApp(t, (_req, res) => { res.writeHead(200); res.write('started') })
  const { url } = await startSidecar(t, app.port, { REVISION_TIMEOUT_SECONDS: '1' }, stack.argv)
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

test('response-start timeout fires only before the first byte', async (t, stack) => {
  const app = await startApp(t, (req, res) => {
    if (req.url === '/slow-start') return // never answers
    res.writeHead(200) // answers at once, then trickles for 1.5 s
    const iv = setInterval(() => { res.write('.') }, 200)
    setTimeout(() => { clearInterval(iv); res.end('done') }, 1500)
  })
  const { url } = await startSidecar(t, app.port, { REVISION_RESPONSE_START_TIMEOUT_SECONDS: '1' }, stack.argv)
  const slow = await send(`${url}/slow-start`)
  t.equal(slow.status, 504)
  t.equal(slow.body, 'request timeout')
  const trickle = await send(`${url}/trickle`)
  t.equal(trickle.status, 200)
  t.match(trickle.body, /done$/, 'a started response outlives the response-start timeout')
})

test('idle timeout fires when the response stalls', async (t, stack) => {
  const app = await startApp(t, (req, res) => {
    if (req.url === '/silent') return
    res.writeHead(200)
    res.write('a') // then silence
  })
  const { url } = await startSidecar(t, app.port, { REVISION_IDLE_TIMEOUT_SECONDS: '1' }, stack.argv)
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

/** An echo websocket app (plain requests are held unanswered) behind a sidecar on fake time. */
async function websocketSidecar (t: Test, stack: Stack, env: Record<string, string>, argv: string[] = []) {
  const app = await startApp(t, () => { /* plain requests never answered */ })
  const wss = new WebSocketServer({ server: app.server })
  wss.on('connection', (ws) => { ws.on('message', (m) => { ws.send(`echo:${m.toString()}`) }) })
  t.teardown(() => { wss.close() })
  const clock = new ManualClock()
  const started = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '2', ...env }, [...stack.argv, ...argv], { clock })
  const open = async (): Promise<WebSocket> => {
    const ws = new WebSocket(started.url.replace('http', 'ws') + '/ws')
    t.teardown(() => { ws.terminate() })
    await new Promise<void>((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject) })
    return ws
  }
  const echo = (ws: WebSocket, text: string): Promise<string> => new Promise((resolve) => { ws.once('message', (m) => { resolve(m.toString()) }); ws.send(text) })
  const closed = (ws: WebSocket): Promise<void> => new Promise((resolve) => { if (ws.readyState === WebSocket.CLOSED) resolve(); else ws.once('close', () => { resolve() }) })
  return { ...started, app, clock, open, echo, closed }
}

// Knative (default): the timeout handler wraps upgrades, and a hijacked connection never writes
// through it, so each timeout counts from the request's start and ends the websocket.
for (const [env, what] of [
  [{ REVISION_TIMEOUT_SECONDS: '2' }, 'timeoutSeconds'],
  [{ REVISION_RESPONSE_START_TIMEOUT_SECONDS: '2' }, 'responseStartTimeoutSeconds'],
  [{ REVISION_IDLE_TIMEOUT_SECONDS: '2' }, 'idleTimeoutSeconds'],
] as const) {
  test(`--upgrade-timeouts knative (default): an open websocket ends at ${what} from its start, however busy; the slot comes back`, async (t, stack) => {
    const { sidecar, clock, open, echo, closed } = await websocketSidecar(t, stack, env)
    const ws = await open()
    t.equal(sidecar.breaker?.inFlight, 1, 'an open websocket holds a concurrency slot')
    clock.advance(1_000)
    t.equal(await echo(ws, 'busy'), 'echo:busy', 'traffic before the deadline')
    clock.advance(1_000)
    await closed(ws)
    await until(() => sidecar.breaker?.inFlight === 0 && sidecar.upgrades.open.size === 0, 2000, 'slot released')
  })
}

test('--upgrade-timeouts handshake: an open websocket outlives every timeout (Knative issues 16169, 16638)', async (t, stack) => {
  const { sidecar, url, clock, open, echo } = await websocketSidecar(t, stack,
    { REVISION_TIMEOUT_SECONDS: '2', REVISION_RESPONSE_START_TIMEOUT_SECONDS: '1', REVISION_IDLE_TIMEOUT_SECONDS: '1' }, ['--upgrade-timeouts', 'handshake'])
  const ws = await open()
  const plain = send(url) // held by the app: its 504 proves the sweeper ran past every deadline
  await until(() => sidecar.breaker?.inFlight === 2, 2000, 'the plain request is in flight')
  clock.advance(10_000)
  t.equal((await plain).status, 504, 'the plain request timed out')
  t.equal(await echo(ws, 'still here'), 'echo:still here', 'the websocket did not')
  ws.close()
  await until(() => sidecar.breaker?.inFlight === 0, 2000, 'slot released on close')
})

test('both modes: a websocket still queued at the revision timeout gets 504 and leaves the queue', async (t, stack) => {
  for (const mode of ['knative', 'handshake']) {
    const { sidecar, url, clock, open } = await websocketSidecar(t, stack, { CONTAINER_CONCURRENCY: '1', REVISION_TIMEOUT_SECONDS: '2' }, ['--upgrade-timeouts', mode])
    const first = await open()
    const queued = new Promise<number>((resolve) => {
      const ws = new WebSocket(url.replace('http', 'ws') + '/queued')
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0) })
      ws.on('open', () => { resolve(101) })
      ws.on('error', () => {})
    })
    await until(() => sidecar.breaker?.queued === 1, 2000, 'the second websocket is queued')
    clock.advance(2_000)
    t.equal(await queued, 504, `${mode}: 504 at the revision timeout`)
    t.equal(sidecar.breaker?.queued, 0, `${mode}: left the queue`)
    first.terminate()
  }
})
