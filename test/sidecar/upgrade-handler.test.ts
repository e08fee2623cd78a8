// The sidecar's Upgrade path on its own (createUpgradePath: http-proxy-3 + UpgradeHandler): tunnels
// are admitted through the breaker like plain requests, hold their slot while open, are counted in
// and out, get the plain requests' Host rewrite, and end on a drain. Real sockets on loopback; the
// deadlines' clock is a ManualClock (swept by hand).
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import t from 'tap'
import { Breaker } from '../../src/admission/breaker.ts'
import { DeadlineSweeper } from '../../src/proxy/deadline-sweeper.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { ANSWER_CODES, ERROR_CODE_HEADER } from '../../src/shared/errors.ts'
import { createRootLogger, silentLogger, type Logger } from '../../src/shared/logger.ts'
import { MAX_EARLY_BYTES } from '../../src/proxy/upgrade-tunnel.ts'
import { UpgradeHandler } from '../../src/sidecar/upgrade-handler.ts'
import { createUpgradePath, type UpgradePath } from '../../src/sidecar/upgrade-path.ts'
import { listen, type Teardown } from '../proxy/h1-fixtures.ts'
import { client, echoApp, HANDSHAKE } from '../helpers/upgrade-fixtures.ts'

interface Front { port: number, path: UpgradePath, breaker: Breaker | null, traffic: string[], drain: { isDraining: boolean, touched: number, touch (): void }, sweeper: DeadlineSweeper, clock: ManualClock }

async function startFront (t: Teardown, appPort: number, cc: number, queueDepth = 1, queueMs = 0, logs: Array<Record<string, unknown>> | null = null): Promise<Front> {
  const clock = new ManualClock(0)
  const sweeper = new DeadlineSweeper(() => clock.nowMs(), 50, new ManualTimers(clock))
  const breaker = cc > 0 ? new Breaker({ capacity: cc, queueDepth }) : null
  const traffic: string[] = []
  const drain = { isDraining: false, touched: 0, touch () { this.touched++ } }
  const path = createUpgradePath({
    target: `http://127.0.0.1:${appPort}`,
    breaker,
    recorder: { reqIn: (p) => { traffic.push(p ? 'in:proxied' : 'in') }, reqOut: (p) => { traffic.push(p ? 'out:proxied' : 'out') } },
    now: () => clock.nowMs(),
    drain,
    sweeper,
    timeouts: { totalMs: 60_000, responseStartMs: 0, idleMs: 0, queueMs, timeoutBody: Buffer.from('timeout\n') },
    upgradeTimeouts: 'knative',
    logger: logs === null ? silentLogger() : recordingLogger(logs),
  }, silentLogger())
  t.teardown(() => { path.close() })
  const server = createServer()
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { path.handler.handle(req, socket, head) })
  const port = await listen(t, server)
  return { port, path, breaker, traffic, drain, sweeper, clock }
}

/** Debug lines, parsed, into `logs`. */
function recordingLogger (logs: Array<Record<string, unknown>>): Logger {
  return createRootLogger('debug', {}, { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>) } })
}

async function startFrontWithQueueTimeout (t: Teardown, appPort: number, queueMs: number, logs: Array<Record<string, unknown>> | null = null): Promise<Front> {
  return await startFront(t, appPort, 1, 1, queueMs, logs)
}

async function tick (): Promise<void> { await new Promise<void>((resolve) => { setImmediate(resolve) }) }

t.test('an open tunnel holds its slot; the next one waits in the queue and is admitted when it closes', async (t) => {
  const app = await echoApp(t)
  const f = await startFront(t, app.port, 1)
  t.ok(f.path.handler instanceof UpgradeHandler, 'the path\'s handler is an UpgradeHandler over the proxy')
  const first = client(f.port)
  await first.until('\r\n\r\n')
  t.equal(f.breaker?.inFlight, 1)
  const second = client(f.port)
  while (f.breaker?.queued !== 1) await tick()
  t.equal(second.received(), '', 'queued: no answer yet')
  first.socket.destroy()
  await second.until('\r\n\r\n')
  t.match(second.received(), /^HTTP\/1\.1 101 /)
  second.socket.write('x')
  await second.until('x')
  second.socket.destroy()
  while (f.path.handler.open.size > 0) await tick()
  t.equal(f.breaker?.inFlight, 0, 'every slot back')
  t.same(f.traffic, ['in', 'in', 'out', 'out'])
})

t.test('beyond the queue: 503 with the queue-full code', async (t) => {
  const app = await echoApp(t)
  const f = await startFront(t, app.port, 1, 0)
  const first = client(f.port)
  await first.until('\r\n\r\n')
  const refused = client(f.port)
  await refused.closed
  t.match(refused.received(), /^HTTP\/1\.1 503 Service Unavailable\r\n/)
  t.match(refused.received(), new RegExp(`${ERROR_CODE_HEADER}: ${ANSWER_CODES.queueFull}`))
  t.match(refused.received(), /pending request queue full\n$/)
  first.socket.destroy()
})

t.test('a queued tunnel whose client left leaves the queue at once, takes no slot, and is logged as client_gone', async (t) => {
  // The queued tunnel reads its socket (upgrade-tunnel.ts watchClient), so the client's FIN is seen
  // as Go's background read sees it: no clock advance, the queue deadline (1 s) never passes.
  const app = await echoApp(t)
  const logs: Array<Record<string, unknown>> = []
  const f = await startFrontWithQueueTimeout(t, app.port, 1_000, logs)
  const first = client(f.port)
  await first.until('\r\n\r\n')
  const leaving = client(f.port)
  while (f.breaker?.queued !== 1) await tick()
  leaving.socket.end() // a FIN, as a client closing its side sends
  await leaving.closed
  while (f.path.handler.open.size > 1) await tick()
  t.equal(f.breaker?.queued, 0, 'left the queue with no clock advance')
  t.equal(f.breaker?.inFlight, 1, 'only the first holds a slot')
  t.same(f.traffic, ['in', 'in', 'out'], 'counted out')
  t.match(logs, [{ msg: 'upgrade client left while queued', outcome: 'client_gone', waitedMs: 0 }])
  first.socket.destroy()
  while (f.path.handler.open.size > 0) await tick()
  t.equal(f.breaker?.inFlight, 0, 'the departed tunnel was never admitted: no slot to return')
  t.equal(app.upgrades, 1, 'the one that left never reached the app')
})

t.test('bytes a queued client sends before the 101 reach the app intact and in order after admission', async (t) => {
  const app = await echoApp(t)
  const f = await startFront(t, app.port, 1)
  const first = client(f.port)
  await first.until('\r\n\r\n')
  // 'head:' rides with the handshake (node:http's `head`); the rest comes while queued, and is read
  // by the queued tunnel (bytesRead says so) before it is admitted.
  const early = client(f.port, HANDSHAKE + 'head:')
  while (f.breaker?.queued !== 1) await tick()
  const queued = [...f.path.handler.open].find((x) => x.queued)
  if (queued === undefined) throw new Error('no queued tunnel')
  const socket = queued.socket as Duplex & { bytesRead: number }
  const sent = HANDSHAKE.length + 'head:'.length + 'one,'.length + 'two'.length
  early.socket.write('one,')
  early.socket.write('two')
  while (socket.bytesRead < sent) await tick()
  t.equal(f.breaker?.queued, 1, 'still queued')
  first.socket.destroy()
  await early.until('head:one,two')
  t.match(early.received(), /^HTTP\/1\.1 101 [\s\S]*\r\n\r\nhead:one,two$/, 'the app echoed every early byte, once, in order')
  early.socket.write('|after')
  await early.until('|after')
  early.socket.destroy()
  while (f.path.handler.open.size > 0) await tick()
  t.equal(f.breaker?.inFlight, 0)
})

t.test('a queued client that sends more than MAX_EARLY_BYTES still gets every byte through after admission', async (t) => {
  const app = await echoApp(t)
  const f = await startFront(t, app.port, 1)
  const first = client(f.port)
  await first.until('\r\n\r\n')
  const big = client(f.port)
  while (f.breaker?.queued !== 1) await tick()
  // Each 4-byte word holds its own index, so a lost, doubled or misplaced chunk shows; the end marker
  // occurs nowhere else.
  const payload = Buffer.alloc(MAX_EARLY_BYTES * 3)
  for (let i = 0; i < payload.length / 4; i++) payload.writeUInt32BE(i, i * 4)
  big.socket.write(payload)
  big.socket.write('<end>')
  const queued = [...f.path.handler.open].find((x) => x.queued)
  if (queued === undefined) throw new Error('no queued tunnel')
  const socket = queued.socket as Duplex & { bytesRead: number }
  while (socket.bytesRead < HANDSHAKE.length + MAX_EARLY_BYTES) await tick() // the watch filled up while queued
  first.socket.destroy()
  await big.until('<end>')
  const body = big.received().slice(big.received().indexOf('\r\n\r\n') + 4)
  t.equal(body.length, payload.length + '<end>'.length, 'nothing lost or doubled past the watch limit')
  t.ok(body === payload.toString('latin1') + '<end>', 'in order')
  big.socket.destroy()
})

t.test('without a breaker (CC 0) tunnels open at once; activator-sent ones count as proxied', async (t) => {
  const app = await echoApp(t)
  const f = await startFront(t, app.port, 0)
  const proxied = client(f.port, HANDSHAKE.replace('\r\n\r\n', '\r\nK-Proxy-Request: activator\r\n\r\n'))
  const direct = client(f.port)
  await proxied.until('\r\n\r\n')
  await direct.until('\r\n\r\n')
  t.same([...f.traffic].sort(), ['in', 'in:proxied'])
  proxied.socket.destroy()
  direct.socket.destroy()
})

t.test('the handshake gets the plain requests\' rewrites: K-Original-Host becomes Host, routing headers go', async (t) => {
  let seen: IncomingHttpHeaders = {}
  const app = await echoApp(t, true, (req) => { seen = req.headers })
  const f = await startFront(t, app.port, 0)
  const c = client(f.port, HANDSHAKE.replace('\r\n\r\n', '\r\nK-Original-Host: orig.example\r\nKnative-Serving-Revision: r\r\nKnative-Serving-Namespace: n\r\n\r\n'))
  await c.until('\r\n\r\n')
  t.equal(seen.host, 'orig.example')
  t.equal(seen['k-original-host'], undefined)
  t.equal(seen['knative-serving-revision'], undefined)
  t.equal(seen['knative-serving-namespace'], undefined)
  c.socket.destroy()
})

t.test('draining: each upgrade touches the drain timer, and destroyAll cuts open tunnels', async (t) => {
  const app = await echoApp(t)
  const f = await startFront(t, app.port, 0)
  f.drain.isDraining = true
  const c = client(f.port)
  await c.until('\r\n\r\n')
  t.equal(f.drain.touched, 1)
  f.path.handler.destroyAll()
  await c.closed
  while (f.path.handler.open.size > 0) await tick()
  t.same(f.traffic, ['in', 'out'])
})

t.test('the revision timeout cuts an open tunnel and returns its slot', async (t) => {
  const app = await echoApp(t)
  const f = await startFront(t, app.port, 1)
  const c = client(f.port)
  await c.until('\r\n\r\n')
  f.clock.advance(60_000)
  f.sweeper.sweep()
  await c.closed
  while (f.path.handler.open.size > 0) await tick()
  t.equal(f.breaker?.inFlight, 0)
})
