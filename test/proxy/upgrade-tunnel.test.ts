// UpgradeTunnel and its TunnelDeadline on their own: a node:http front server hands each Upgrade
// request to a tunnel (http-proxy-3 does the handshake), to a real app on loopback that answers
// 101 and echoes; clients are raw sockets. Deadlines run on a ManualClock: the test sweeps.
import { createServer, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { ProxyServer } from 'http-proxy-3'
import t from 'tap'
import { Breaker } from '../../src/admission/breaker.ts'
import { DeadlineSweeper } from '../../src/proxy/deadline-sweeper.ts'
import type { TimeoutPolicy } from '../../src/proxy/proxy-exchange.ts'
import { TunnelDeadline } from '../../src/proxy/tunnel-deadline.ts'
import {
  TUNNEL_WAIT, type TunnelConnector, type TunnelEndpoint, type TunnelOwner, UpgradeTunnel,
} from '../../src/proxy/upgrade-tunnel.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { ANSWER_CODES, ERROR_CODE_HEADER } from '../../src/shared/errors.ts'
import { listen, type Teardown } from './h1-fixtures.ts'
import { client, echoApp } from '../helpers/upgrade-fixtures.ts'

const POLICY: TimeoutPolicy = { totalMs: 10_000, responseStartMs: 0, idleMs: 0, queueMs: 0, timeoutBody: Buffer.from('timed out\n') }

async function deadPort (t: Teardown): Promise<number> {
  const s = createServer()
  const port = await listen(t, s)
  await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
  return port
}

function endpoint (port: number): TunnelEndpoint {
  return { url: `http://127.0.0.1:${port}`, host: '127.0.0.1', port, secure: null }
}

class Owner implements TunnelOwner {
  readonly calls: string[] = []
  readonly ended: UpgradeTunnel[] = []
  #onEnd: Array<() => void> = []
  onTunnelAdmitted (): void { this.calls.push('admitted') }
  onTunnelDequeue (): void { this.calls.push('dequeue') }
  onTunnelError (_t: UpgradeTunnel, err: Error): void { this.calls.push(`error:${(err as { code?: string }).code ?? err.message}`) }
  onTunnelEnd (tunnel: UpgradeTunnel): void {
    this.calls.push('end')
    this.ended.push(tunnel)
    for (const fn of this.#onEnd.splice(0)) fn()
  }

  async whenEnded (n: number): Promise<void> {
    while (this.ended.length < n) await new Promise<void>((resolve) => { this.#onEnd.push(resolve) })
  }
}

interface Front {
  port: number
  owner: Owner
  clock: ManualClock
  sweeper: DeadlineSweeper
  tunnels: UpgradeTunnel[]
  tunnel (n: number): Promise<UpgradeTunnel>
  advance (ms: number): void
}

/** `start` decides what happens to each new tunnel (open, connect, queue). */
async function startFront (t: Teardown, start: (tunnel: UpgradeTunnel, front: Front) => void, policy = POLICY, mode: 'knative' | 'handshake' = 'knative'): Promise<Front> {
  const clock = new ManualClock(0)
  const sweeper = new DeadlineSweeper(() => clock.nowMs(), 50, new ManualTimers(clock))
  const owner = new Owner()
  const tunnels: UpgradeTunnel[] = []
  const waiting: Array<() => void> = []
  const server = createServer()
  const front: Front = {
    port: 0,
    owner,
    clock,
    sweeper,
    tunnels,
    async tunnel (n) {
      while (tunnels.length < n) await new Promise<void>((resolve) => { waiting.push(resolve) })
      return tunnels[n - 1] as UpgradeTunnel
    },
    advance (ms) { clock.advance(ms); sweeper.sweep() },
  }
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const tunnel = new UpgradeTunnel(owner, req, socket, head, false, clock.nowMs())
    const deadline = new TunnelDeadline(tunnel, policy, mode)
    sweeper.add(deadline)
    socket.on('close', () => { sweeper.remove(deadline) })
    tunnels.push(tunnel)
    start(tunnel, front)
    for (const fn of waiting.splice(0)) fn()
  })
  front.port = await listen(t, server)
  return front
}

function wsProxy (t: Teardown): ProxyServer {
  const proxy = new ProxyServer({ ws: true })
  proxy.on('error', () => {})
  t.teardown(() => { proxy.close() })
  return proxy
}

t.test('open: the handshake and the bytes after it go through; the client closing ends the tunnel once', async (t) => {
  const app = await echoApp(t)
  const proxy = wsProxy(t)
  const front = await startFront(t, (tunnel) => { tunnel.open({ proxy, target: `http://127.0.0.1:${app.port}` }) })
  const c = client(front.port)
  await c.until('\r\n\r\n')
  t.match(c.received(), /^HTTP\/1\.1 101 /)
  c.socket.write('ping')
  await c.until('ping')
  const tunnel = await front.tunnel(1)
  t.equal(tunnel.isOpen, true)
  t.equal(tunnel.hasResponded, true)
  c.socket.end()
  await front.owner.whenEnded(1)
  t.same(front.owner.calls, ['end'])
  tunnel.end()
  t.same(front.owner.calls, ['end'], 'end() is idempotent')
})

t.test('connect: a refused endpoint is replaced by the one the connector names', async (t) => {
  const app = await echoApp(t)
  const dead = await deadPort(t)
  const failures: string[] = []
  const connector: TunnelConnector = {
    wsProxy: wsProxy(t),
    tunnelConnectTimeoutMs: 0,
    onTunnelConnectFailed (_tunnel, err) { failures.push((err as { code?: string }).code ?? ''); return endpoint(app.port) },
  }
  const front = await startFront(t, (tunnel) => { tunnel.connect(endpoint(dead), connector) })
  const c = client(front.port)
  await c.until('\r\n\r\n')
  t.match(c.received(), /^HTTP\/1\.1 101 /)
  c.socket.write('hi')
  await c.until('hi')
  t.same(failures, ['ECONNREFUSED'])
  t.equal((await front.tunnel(1)).retries, 1)
  c.socket.destroy()
})

t.test('connect: no endpoint left gives a 502 with the connect error and the upstream code', async (t) => {
  const dead = await deadPort(t)
  const connector: TunnelConnector = { wsProxy: wsProxy(t), tunnelConnectTimeoutMs: 0, onTunnelConnectFailed: () => null }
  const front = await startFront(t, (tunnel) => { tunnel.connect(endpoint(dead), connector) })
  const c = client(front.port)
  await c.closed
  t.match(c.received(), /^HTTP\/1\.1 502 Bad Gateway\r\n/)
  t.match(c.received(), new RegExp(`\r\n${ERROR_CODE_HEADER}: ${ANSWER_CODES.upstream}\r\n`))
  t.match(c.received(), /\r\n\r\nupstream connection failed: ECONNREFUSED\n$/)
  await front.owner.whenEnded(1)
})

t.test('connect: TUNNEL_WAIT parks the tunnel until retryOn names an endpoint with room', async (t) => {
  const app = await echoApp(t)
  const dead = await deadPort(t)
  let parked: () => void = () => {}
  const isParked = new Promise<void>((resolve) => { parked = resolve })
  const connector: TunnelConnector = {
    wsProxy: wsProxy(t),
    tunnelConnectTimeoutMs: 0,
    onTunnelConnectFailed () { parked(); return TUNNEL_WAIT },
  }
  const front = await startFront(t, (tunnel) => { tunnel.connect(endpoint(dead), connector) })
  const c = client(front.port)
  await isParked
  const tunnel = await front.tunnel(1)
  t.equal(tunnel.isParked, true)
  t.equal(c.received(), '', 'nothing answered while parked')
  tunnel.retryOn(endpoint(app.port))
  t.equal(tunnel.isParked, false)
  await c.until('\r\n\r\n')
  t.match(c.received(), /^HTTP\/1\.1 101 /)
  c.socket.destroy()
})

t.test('a parked tunnel times out on its queue deadline with 503', async (t) => {
  const dead = await deadPort(t)
  let parked: () => void = () => {}
  const isParked = new Promise<void>((resolve) => { parked = resolve })
  const connector: TunnelConnector = { wsProxy: wsProxy(t), tunnelConnectTimeoutMs: 0, onTunnelConnectFailed () { parked(); return TUNNEL_WAIT } }
  const front = await startFront(t, (tunnel) => { tunnel.connect(endpoint(dead), connector) }, { ...POLICY, queueMs: 2_000 })
  const c = client(front.port)
  await isParked
  front.advance(1_999)
  t.equal(c.received(), '')
  front.advance(1)
  await c.closed
  t.match(c.received(), /^HTTP\/1\.1 503 Service Unavailable\r\n/)
  t.match(c.received(), new RegExp(`${ERROR_CODE_HEADER}: ${ANSWER_CODES.queueTimeout}`))
})

t.test('a queued tunnel times out with 503 and leaves the queue', async (t) => {
  const breaker = new Breaker({ capacity: 0, queueDepth: 1 })
  const front = await startFront(t, (tunnel) => { breaker.enqueue(tunnel) }, { ...POLICY, queueMs: 500 })
  const c = client(front.port)
  await front.tunnel(1)
  front.advance(500)
  await c.closed
  t.match(c.received(), /^HTTP\/1\.1 503 /)
  t.same(front.owner.calls, ['dequeue', 'end'], 'the owner is told to unlink it')
})

t.test('knative mode: a handshake the app never answers gets 504 at the timeout', async (t) => {
  const app = await echoApp(t, false)
  const proxy = wsProxy(t)
  const front = await startFront(t, (tunnel) => { tunnel.open({ proxy, target: `http://127.0.0.1:${app.port}` }) })
  const c = client(front.port)
  const tunnel = await front.tunnel(1)
  while (app.upgrades === 0) await new Promise<void>((resolve) => { setImmediate(resolve) })
  front.advance(9_999)
  t.equal(tunnel.isEnded, false)
  front.advance(1)
  await c.closed
  t.match(c.received(), /^HTTP\/1\.1 504 Gateway Timeout\r\n/)
  t.match(c.received(), new RegExp(`${ERROR_CODE_HEADER}: ${ANSWER_CODES.timeout}`))
  t.match(c.received(), /\r\n\r\ntimed out\n$/)
})

t.test('knative mode: an open websocket is cut when the revision timeout passes (Knative TestWebSocketWithTimeout)', async (t) => {
  const app = await echoApp(t)
  const proxy = wsProxy(t)
  const front = await startFront(t, (tunnel) => { tunnel.open({ proxy, target: `http://127.0.0.1:${app.port}` }) })
  const c = client(front.port)
  await c.until('\r\n\r\n')
  front.advance(9_999)
  c.socket.write('still open')
  await c.until('still open')
  front.advance(1)
  await c.closed
  t.notMatch(c.received(), /504/, 'no second answer after the 101: the connection is cut')
})

t.test('handshake mode: the timeouts bound the handshake only; an open tunnel outlives them', async (t) => {
  const app = await echoApp(t)
  const proxy = wsProxy(t)
  const front = await startFront(t, (tunnel) => { tunnel.open({ proxy, target: `http://127.0.0.1:${app.port}` }) }, POLICY, 'handshake')
  const c = client(front.port)
  await c.until('\r\n\r\n')
  front.advance(60_000)
  c.socket.write('after')
  await c.until('after')
  t.equal((await front.tunnel(1)).isEnded, false)
  c.socket.destroy()
})

t.test('the idle and response-start timeouts count from the request start too (knative mode)', async (t) => {
  for (const policy of [{ ...POLICY, idleMs: 300 }, { ...POLICY, responseStartMs: 300 }]) {
    const app = await echoApp(t)
    const proxy = wsProxy(t)
    const front = await startFront(t, (tunnel) => { tunnel.open({ proxy, target: `http://127.0.0.1:${app.port}` }) }, policy)
    const c = client(front.port)
    await c.until('\r\n\r\n')
    front.advance(299)
    t.equal((await front.tunnel(1)).isEnded, false)
    front.advance(1)
    await c.closed
    t.pass(`${policy.idleMs > 0 ? 'idle' : 'response-start'} timeout cut the tunnel at 300 ms`)
  }
})

t.test('open: an app that resets the handshake gets the client a 502, and the owner hears the error', async (t) => {
  const server = createServer()
  server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => { socket.destroy() })
  const port = await listen(t, server)
  const proxy = wsProxy(t)
  const front = await startFront(t, (tunnel) => { tunnel.open({ proxy, target: `http://127.0.0.1:${port}` }) })
  const c = client(front.port)
  await c.until('\r\n\r\n')
  t.match(c.received(), /^HTTP\/1\.1 502 Bad Gateway\r\n/)
  t.match(c.received(), /upstream connection failed: ECONNRESET\n$/)
  await front.owner.whenEnded(1)
  t.same(front.owner.calls, ['error:ECONNRESET', 'end'])
})
