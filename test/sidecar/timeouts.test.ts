import { request, type ClientRequest, type IncomingMessage } from 'node:http'
import t, { type Test } from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { DEFAULT_TICK_MS } from '../../src/proxy/deadline-sweeper.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { send, sleep, startApp, startSidecar, until, type Reply } from '../helpers/sidecar-fixture.ts'
import { STACKS, stackTests, type Stack } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', STACKS, { parallel: true })

// The request timeouts run on fake time: the sidecar's deadline sweeper ticks every
// DEFAULT_TICK_MS of real time and reads the injected clock, so a deadline passes exactly when
// the test advances the clock past it. `sweeps()` lets a few ticks run, to show that a deadline
// not yet reached does not fire.
function sweeps (): Promise<void> {
  return sleep(3 * DEFAULT_TICK_MS)
}

/** Tracks whether a pending reply has settled, for the "not yet" checks. */
function pending<T> (p: Promise<T>): { promise: Promise<T>, settled (): boolean } {
  let settled = false
  p.then(() => { settled = true }, () => { settled = true })
  return { promise: p, settled: () => settled }
}

/** A GET whose response head arrived (`res`), and how it ended: 'ended' cleanly or 'aborted'. */
function streamingGet (url: string): Promise<{ req: ClientRequest, res: IncomingMessage, body: () => string, outcome: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = ''
      const outcome = new Promise<string>((resolveOutcome) => {
        res.on('data', (c: Buffer) => { body += c.toString() })
        res.on('error', () => { resolveOutcome('aborted') })
        res.on('end', () => { resolveOutcome('ended') })
        req.on('error', () => { resolveOutcome('aborted') })
      })
      resolve({ req, res, body: () => body, outcome })
    })
    req.on('error', reject)
    req.end()
  })
}

test('revision timeout answers 504 "request timeout" when nothing was sent yet, and frees the slot', async (t, stack) => {
  const app = await startApp(t, () => { /* never answers */ })
  const clock = new ManualClock()
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1', REVISION_TIMEOUT_SECONDS: '1' }, stack.argv, { clock })
  const reply = pending(send(url))
  await until(() => app.inFlight === 1, 2000, 'the request reached the app')
  clock.advance(999)
  await sweeps()
  t.notOk(reply.settled(), 'no answer 1 ms before the timeout')
  clock.advance(1)
  const r = await reply.promise
  t.equal(r.status, 504, 'fired at 1 s')
  t.equal(r.body, 'request timeout')
  t.equal(sidecar.breaker?.inFlight, 0)
  t.equal(sidecar.metrics.timeout504, 1)
  await until(() => app.inFlight === 0, 2000, 'upstream request aborted')
})

test('revision timeout also bounds time spent queued', async (t, stack) => {
  const app = await startApp(t, () => { /* never answers */ })
  const clock = new ManualClock()
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1', REVISION_TIMEOUT_SECONDS: '1' }, stack.argv, { clock })
  const replies = Promise.all([send(url), send(url)])
  await until(() => sidecar.breaker?.inFlight === 1 && sidecar.breaker.queued === 1, 2000, 'one request in flight, one queued')
  clock.advance(1_000)
  const [a, b] = await replies
  t.same([a.status, b.status], [504, 504])
  t.equal(sidecar.breaker?.queued, 0)
  t.equal(sidecar.breaker?.inFlight, 0)
})

test('after the response started, a revision timeout cuts the connection', async (t, stack) => {
  const app = await startApp(t, (_req, res) => { res.writeHead(200); res.write('started') })
  const clock = new ManualClock()
  const { url } = await startSidecar(t, app.port, { REVISION_TIMEOUT_SECONDS: '1' }, stack.argv, { clock })
  const get = await streamingGet(url)
  await until(() => get.body() === 'started', 2000, 'the first body bytes')
  clock.advance(1_000)
  t.equal(await get.outcome, 'aborted', 'client sees a broken response, not a clean end')
})

test('response-start timeout fires only before the first byte', async (t, stack) => {
  const trickling: { finish: (() => void) | null } = { finish: null }
  const app = await startApp(t, (req, res) => {
    if (req.url === '/slow-start') return // never answers
    res.writeHead(200) // answers at once, then writes until told to finish
    res.write('.')
    trickling.finish = () => { res.end('done') }
  })
  const clock = new ManualClock()
  const { url } = await startSidecar(t, app.port, { REVISION_RESPONSE_START_TIMEOUT_SECONDS: '1' }, stack.argv, { clock })
  const slow = pending(send(`${url}/slow-start`))
  await until(() => app.inFlight === 1, 2000, 'the slow request reached the app')
  clock.advance(999)
  await sweeps()
  t.notOk(slow.settled(), 'no answer 1 ms before the timeout')
  clock.advance(1)
  const r: Reply = await slow.promise
  t.equal(r.status, 504)
  t.equal(r.body, 'request timeout')
  const trickle = await streamingGet(`${url}/trickle`)
  await until(() => trickle.body() === '.', 2000, 'the first body byte')
  clock.advance(1_500)
  await sweeps()
  trickling.finish?.()
  t.equal(await trickle.outcome, 'ended')
  t.equal(trickle.res.statusCode, 200)
  t.match(trickle.body(), /done$/, 'a started response outlives the response-start timeout')
})

test('idle timeout fires when the response stalls', async (t, stack) => {
  const app = await startApp(t, (req, res) => {
    if (req.url === '/silent') return
    res.writeHead(200)
    res.write('a') // then silence
  })
  const clock = new ManualClock()
  const { url } = await startSidecar(t, app.port, { REVISION_IDLE_TIMEOUT_SECONDS: '1' }, stack.argv, { clock })
  const silent = pending(send(`${url}/silent`))
  await until(() => app.inFlight === 1, 2000, 'the silent request reached the app')
  clock.advance(999)
  await sweeps()
  t.notOk(silent.settled(), 'no answer 1 ms before the timeout')
  clock.advance(1)
  t.equal((await silent.promise).status, 504, 'nothing written: 504')
  const stalled = await streamingGet(`${url}/stall`)
  await until(() => stalled.body() === 'a', 2000, 'the first body byte')
  clock.advance(999)
  await sweeps()
  t.equal(stalled.res.complete, false, 'still open 1 ms before the idle timeout')
  t.equal(stalled.res.destroyed, false, 'not cut 1 ms before the idle timeout')
  clock.advance(1)
  t.equal(await stalled.outcome, 'aborted')
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
