// SidecarHandler on its own: the sidecar's request path (probes, the breaker's slots and FIFO queue,
// retries, stats, the request log) behind a node:http front server, to a real app through a real
// H1Upstream, with real clients. Time is a ManualClock; deadlines run when a test sweeps.
// The whole sidecar process is tested in test/sidecar/*.test.ts; this pins the handler's rules.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import t from 'tap'
import { Breaker } from '../../src/admission/breaker.ts'
import { DeadlineSweeper } from '../../src/proxy/deadline-sweeper.ts'
import { H1Upstream } from '../../src/proxy/h1-upstream.ts'
import type { ProxyExchange, TimeoutPolicy } from '../../src/proxy/proxy-exchange.ts'
import type { Upstream } from '../../src/proxy/upstream.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { ANSWER_CODES, ERROR_CODE_HEADER } from '../../src/shared/errors.ts'
import { createRootLogger, silentLogger } from '../../src/shared/logger.ts'
import { SidecarHandler } from '../../src/sidecar/handler.ts'
import { ProbeResponder } from '../../src/sidecar/probe-responder.ts'
import { listen, startHttpApp, startRawServer, type Teardown } from '../proxy/h1-fixtures.ts'

const TIMEOUTS: TimeoutPolicy = { totalMs: 300_000, responseStartMs: 0, idleMs: 0, queueMs: 0, timeoutBody: Buffer.from('timeout\n') }

interface Sidecar {
  port: number
  handler: SidecarHandler
  clock: ManualClock
  sweeper: DeadlineSweeper
  /** reqIn/reqOut calls: 'in:proxied', 'out:direct', ... */
  traffic: string[]
  done: ProxyExchange[]
  logLines: Array<Record<string, unknown>>
  drain: { isDraining: boolean, touched: number, touch (): void }
  readiness: { ready: boolean }
  advance (ms: number): void
}

interface SidecarOptions {
  /** containerConcurrency; 0 = no breaker. */
  cc?: number
  queueDepth?: number
  timeouts?: TimeoutPolicy
  serverTiming?: boolean
  upstream?: Upstream
}

async function startSidecarHandler (t: Teardown, appPort: number, o: SidecarOptions = {}): Promise<Sidecar> {
  const clock = new ManualClock(0)
  const sweeper = new DeadlineSweeper(() => clock.nowMs(), 50, new ManualTimers(clock))
  let upstream = o.upstream
  if (upstream === undefined) {
    const h1 = new H1Upstream({ host: '127.0.0.1', port: appPort })
    t.teardown(() => { h1.destroy() })
    upstream = h1
  }
  const traffic: string[] = []
  const done: ProxyExchange[] = []
  const logLines: Array<Record<string, unknown>> = []
  const drain = { isDraining: false, touched: 0, touch () { this.touched++ } }
  const readiness = { ready: true }
  const cc = o.cc ?? 0
  const handler = new SidecarHandler({
    upstream,
    h2Upstream: null,
    breaker: cc > 0 ? new Breaker({ capacity: cc, queueDepth: o.queueDepth ?? 10 }) : null,
    probes: new ProbeResponder({ check: async () => readiness.ready }, drain),
    drain,
    recorder: {
      reqIn: (proxied) => { traffic.push(proxied ? 'in:proxied' : 'in:direct') },
      reqOut: (proxied) => { traffic.push(proxied ? 'out:proxied' : 'out:direct') },
    },
    observer: { onExchangeDone: (ex) => { done.push(ex) } },
    sweeper,
    clock,
    timeouts: o.timeouts ?? TIMEOUTS,
    serverTiming: o.serverTiming ?? false,
    requestLog: createRootLogger('info', {}, { write: (line: string) => { logLines.push(JSON.parse(line) as Record<string, unknown>) } }),
    knativeRequestLog: null,
    logRevision: { Name: 'rev', Namespace: 'ns', Service: 'svc', Configuration: 'cfg', PodName: 'pod', PodIP: '127.0.0.1' },
    logger: silentLogger(),
  })
  const server = createServer((req: IncomingMessage, res: ServerResponse) => { handler.handle(req, res) })
  const port = await listen(t, server)
  return { port, handler, clock, sweeper, traffic, done, logLines, drain, readiness, advance (ms) { clock.advance(ms); sweeper.sweep() } }
}

interface Reply { status: number, headers: IncomingHttpHeaders, body: string }

async function get (port: number, headers: Record<string, string> = {}, path = '/'): Promise<Reply> {
  return await new Promise<Reply>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

/** An app whose requests wait until the test releases them, in arrival order. */
async function heldApp (t: Teardown): Promise<{ port: number, arrived: string[], release (): void, whenArrived (n: number): Promise<void> }> {
  const held: ServerResponse[] = []
  const arrived: string[] = []
  let notify: () => void = () => {}
  const app = await startHttpApp(t, (req, res) => {
    arrived.push(req.url ?? '')
    held.push(res)
    notify()
  })
  return {
    port: app.port,
    arrived,
    release () { const res = held.shift(); if (res !== undefined) res.end('done') },
    async whenArrived (n: number) { while (arrived.length < n) await new Promise<void>((resolve) => { notify = resolve }) },
  }
}

t.test('proxies, counts the request in and out (proxied when an activator sent it), and logs it', async (t) => {
  const app = await startHttpApp(t, (req, res) => { res.end(`hello ${req.headers['k-proxy-request'] ?? '-'}`) })
  const sc = await startSidecarHandler(t, app.port, { cc: 2 })
  const direct = await get(sc.port, {}, '/p?q=1')
  t.equal(direct.status, 200)
  t.equal(direct.body, 'hello -')
  const viaActivator = await get(sc.port, { 'k-proxy-request': 'activator' })
  t.equal(viaActivator.body, 'hello activator', 'the header reaches the app, as with Knative')
  t.same(sc.traffic, ['in:direct', 'out:direct', 'in:proxied', 'out:proxied'])
  t.equal(sc.done.length, 2, 'the observer hears each request once')
  t.equal(sc.handler.active, 0)
  t.equal(sc.handler.breaker?.inFlight, 0, 'slots returned')
  t.match(sc.logLines[0], { msg: 'request', method: 'GET', path: '/p?q=1', status: 200, outcome: 'ok', error: null, proxied: false, queueMs: 0 })
  t.match(sc.logLines[1], { proxied: true })
  await sc.handler.whenIdle()
})

t.test('probes are answered by the sidecar, never proxied or counted', async (t) => {
  let hits = 0
  const app = await startHttpApp(t, (_req, res) => { hits++; res.end() })
  const sc = await startSidecarHandler(t, app.port, { cc: 1 })
  const kubelet = await get(sc.port, { 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'queue' })
  t.equal(kubelet.status, 200)
  t.equal(kubelet.body, 'queue')
  sc.readiness.ready = false
  t.equal((await get(sc.port, { 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'queue' })).status, 503)
  t.equal((await get(sc.port, { 'k-network-probe': 'probe', 'k-network-hash': 'h' })).status, 200, 'ingress probe')
  t.equal(hits, 0)
  t.same(sc.traffic, [])
  t.equal(sc.logLines.length, 0)
})

t.test('at capacity, requests queue in FIFO order; beyond the queue depth: 503 with the queue-full code', async (t) => {
  const app = await heldApp(t)
  const sc = await startSidecarHandler(t, app.port, { cc: 1, queueDepth: 2 })
  const first = get(sc.port, {}, '/1')
  await app.whenArrived(1)
  const second = get(sc.port, {}, '/2')
  const third = get(sc.port, {}, '/3')
  while (sc.handler.breaker?.queued !== 2) await new Promise<void>((resolve) => { setImmediate(resolve) })
  const refused = await get(sc.port, {}, '/4')
  t.equal(refused.status, 503)
  t.equal(refused.body, 'pending request queue full\n')
  t.equal(refused.headers[ERROR_CODE_HEADER], ANSWER_CODES.queueFull)
  t.same(app.arrived, ['/1'], 'only one at the app with containerConcurrency 1')
  app.release()
  t.equal((await first).status, 200)
  await app.whenArrived(2)
  t.same(app.arrived, ['/1', '/2'], 'the oldest waiter goes next')
  app.release()
  await app.whenArrived(3)
  app.release()
  t.equal((await second).status, 200)
  t.equal((await third).status, 200)
  t.same(app.arrived, ['/1', '/2', '/3'])
  t.equal(sc.handler.breaker?.inFlight, 0)
  t.match(sc.logLines.find((l) => l.path === '/4'), { status: 503, outcome: 'queue_full', error: ANSWER_CODES.queueFull })
})

t.test('a queued request that times out leaves the queue, and its slot is never taken', async (t) => {
  const app = await heldApp(t)
  const sc = await startSidecarHandler(t, app.port, { cc: 1, timeouts: { ...TIMEOUTS, queueMs: 1_000 } })
  const first = get(sc.port, {}, '/1')
  await app.whenArrived(1)
  sc.advance(500)
  const queued = get(sc.port, {}, '/2')
  while (sc.handler.breaker?.queued !== 1) await new Promise<void>((resolve) => { setImmediate(resolve) })
  sc.advance(999)
  t.equal(sc.handler.breaker?.queued, 1, 'still queued at 999 ms')
  sc.advance(1)
  const r = await queued
  t.equal(r.status, 503)
  t.equal(r.headers[ERROR_CODE_HEADER], ANSWER_CODES.queueTimeout)
  t.equal(sc.handler.breaker?.queued, 0)
  app.release()
  t.equal((await first).status, 200)
  t.equal(sc.handler.breaker?.inFlight, 0, 'the timed-out waiter held no slot')
  t.same(app.arrived, ['/1'], 'the timed-out request never reached the app')
  t.match(sc.logLines.find((l) => l.path === '/2'), { outcome: 'queue_timeout', queueMs: null })
})

t.test('containerConcurrency 0: no breaker, every request goes straight through', async (t) => {
  const app = await heldApp(t)
  const sc = await startSidecarHandler(t, app.port, { cc: 0 })
  t.equal(sc.handler.breaker, null)
  const replies = [1, 2, 3, 4, 5].map((i) => get(sc.port, {}, `/${i}`))
  await app.whenArrived(5)
  t.equal(sc.handler.active, 5)
  for (let i = 0; i < 5; i++) app.release()
  for (const r of await Promise.all(replies)) t.equal(r.status, 200)
})

t.test('a reset keep-alive socket is retried once on the same upstream; a refused connection is not', async (t) => {
  const raw = await startRawServer(t, (conn) => {
    if (raw.conns.length === 1) conn.socket.destroy() // the first connection dies before answering
    else conn.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nretried')
  })
  const sc = await startSidecarHandler(t, raw.port)
  const r = await get(sc.port)
  t.equal(r.body, 'retried')
  t.equal(sc.done[0]?.retries, 1)

  const closed = createServer()
  const deadPort = await listen(t, closed)
  await new Promise<void>((resolve) => { closed.close(() => { resolve() }) })
  const refused = await startSidecarHandler(t, deadPort)
  const r2 = await get(refused.port)
  t.equal(r2.status, 502)
  t.equal(r2.headers[ERROR_CODE_HEADER], ANSWER_CODES.upstream)
  t.equal(refused.done[0]?.retries, 0, 'ECONNREFUSED: the container will refuse again')
  t.match(refused.logLines[0], { status: 502, outcome: 'upstream_error' })
})

t.test('a request the upstream refuses to write is logged as rejected, with its code (issue 14 item 3)', async (t) => {
  const app = await startHttpApp(t, (_req, res) => { res.end() })
  const h1 = new H1Upstream({ host: '127.0.0.1', port: app.port })
  t.teardown(() => { h1.destroy() })
  const bad: Upstream = { dispatch: (options, handler) => h1.dispatch({ ...options, path: '/a b' }, handler) }
  const sc = await startSidecarHandler(t, app.port, { upstream: bad })
  const r = await get(sc.port)
  t.equal(r.status, 400)
  t.match(sc.logLines[0], { status: 400, outcome: 'rejected', error: r.headers[ERROR_CODE_HEADER] })
  t.not(sc.logLines[0]?.error, null)
})

t.test('while draining, each request touches the drain timer', async (t) => {
  const app = await startHttpApp(t, (_req, res) => { res.end() })
  const sc = await startSidecarHandler(t, app.port)
  await get(sc.port)
  t.equal(sc.drain.touched, 0)
  sc.drain.isDraining = true
  await get(sc.port)
  await get(sc.port)
  t.equal(sc.drain.touched, 2)
})

t.test('Server-Timing: queue wait and time to first byte from the injected clock, only when enabled', async (t) => {
  const app = await heldApp(t)
  const sc = await startSidecarHandler(t, app.port, { cc: 1, serverTiming: true })
  const first = get(sc.port, {}, '/1')
  await app.whenArrived(1)
  const second = get(sc.port, {}, '/2')
  while (sc.handler.breaker?.queued !== 1) await new Promise<void>((resolve) => { setImmediate(resolve) })
  sc.clock.advance(250) // /2 waits 250 ms for the slot
  app.release()
  t.match((await first).headers['server-timing'], /^queue;dur=0(\.0+)?, /)
  await app.whenArrived(2)
  sc.clock.advance(40) // then 40 ms until the app answers
  app.release()
  const r = await second
  t.match(r.headers['server-timing'], /queue;dur=250/)
  t.match(r.headers['server-timing'], /upstream;dur=40/)

  const off = await startSidecarHandler(t, app.port, { serverTiming: false })
  const plain = get(off.port)
  await app.whenArrived(3)
  app.release()
  t.equal((await plain).headers['server-timing'], undefined)
})
