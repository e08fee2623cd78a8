// One readiness probe attempt on its own (createProbeTarget): the verdict of an HTTP GET, a TCP
// connect and a gRPC health check against real servers on 127.0.0.1, the reason a failure gives, the
// timeout (ManualTimers: it fires when the test moves time, not before) and abort.
import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import http2 from 'node:http2'
import net from 'node:net'
import t from 'tap'
import { createProbeTarget } from '../../src/sidecar/readiness-probe-attempt.ts'
import type { GrpcProbeSpec, HttpProbeSpec, TcpProbeSpec } from '../../src/sidecar/readiness-probe-spec.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers, realTimers } from '../../src/shared/timers.ts'

const TIMING = { timeoutMs: 1000, periodMs: 0, successThreshold: 1, failureThreshold: 3 }
const httpSpec = (port: number, over: Partial<HttpProbeSpec> = {}): HttpProbeSpec =>
  ({ kind: 'http', scheme: 'http', host: '127.0.0.1', port, path: '/healthz', headers: [], ...TIMING, ...over })
const tcpSpec = (port: number): TcpProbeSpec => ({ kind: 'tcp', host: '127.0.0.1', port, ...TIMING })
const grpcSpec = (port: number, service = ''): GrpcProbeSpec => ({ kind: 'grpc', host: '127.0.0.1', port, service, ...TIMING })

interface Teardown { teardown (fn: () => unknown): void }

async function listen (t: Teardown, server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const sockets = new Set<net.Socket>()
  server.on('connection', (socket: net.Socket) => { sockets.add(socket); socket.on('close', () => { sockets.delete(socket) }) })
  t.teardown(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    server.close(() => { resolve() })
  }))
  const addr = server.address()
  return addr !== null && typeof addr === 'object' ? addr.port : 0
}

async function closedPort (): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const addr = server.address()
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  return addr !== null && typeof addr === 'object' ? addr.port : 0
}

const live = (): AbortSignal => new AbortController().signal

t.test('HTTP: 2xx and 3xx are ready, anything else says the status; kube-probe headers, a fresh connection each time', async (t) => {
  let status = 200
  const seen: IncomingMessage[] = []
  const clientPorts: Array<number | undefined> = []
  const port = await listen(t, createServer((req, res) => { seen.push(req); clientPorts.push(req.socket.remotePort); res.statusCode = status; res.end('body') }))
  const target = createProbeTarget(httpSpec(port, {
    headers: [{ name: 'X-Custom', value: 'a' }, { name: 'x-custom', value: 'b' }, { name: 'User-Agent', value: 'mine' }, { name: 'Host', value: 'evil' }],
  }))
  t.equal(target.description, `GET http://127.0.0.1:${port}/healthz`)
  const cases: Array<[number, string | null]> = [
    [200, null],
    [302, null],
    [399, null],
    [404, `GET http://127.0.0.1:${port}/healthz: HTTP probe did not respond Ready, got status code: 404`],
    [503, `GET http://127.0.0.1:${port}/healthz: HTTP probe did not respond Ready, got status code: 503`],
  ]
  for (const [s, want] of cases) {
    status = s
    t.equal(await target.attempt(1000, realTimers, live()), want, `status ${s}`)
  }
  const last = seen.at(-1)
  t.equal(last?.headers['user-agent'], 'kube-probe//', 'the configured User-Agent has no effect, as in Go')
  t.equal(last?.headers.host, `127.0.0.1:${port}`, 'nor does a configured Host')
  t.equal(last?.headers['x-custom'], 'a, b', 'repeated names are all sent')
  t.equal(last?.headers.connection, 'close')
  t.equal(new Set(clientPorts).size, cases.length, 'one connection per attempt')
})

t.test('HTTP and TCP: a refused connection is a failure with the reason', async (t) => {
  const port = await closedPort()
  t.match(await createProbeTarget(httpSpec(port)).attempt(1000, realTimers, live()), /^GET http:\/\/127\.0\.0\.1:\d+\/healthz: .*ECONNREFUSED/)
  const tcp = createProbeTarget(tcpSpec(port))
  t.equal(tcp.description, `TCP 127.0.0.1:${port}`)
  t.match(await tcp.attempt(1000, realTimers, live()), /^TCP 127\.0\.0\.1:\d+: .*ECONNREFUSED/)
})

t.test('TCP: ready once the connection opens', async (t) => {
  const port = await listen(t, net.createServer((socket) => { socket.on('error', () => {}) }))
  t.equal(await createProbeTarget(tcpSpec(port)).attempt(1000, realTimers, live()), null)
})

t.test('a server that never answers: the timeout fires when its time has passed, not before', async (t) => {
  const port = await listen(t, createServer(() => { /* never answers */ }))
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  let outcome: string | null | undefined
  const attempt = createProbeTarget(httpSpec(port)).attempt(300, timers, live()).then((o) => { outcome = o })
  await timers.advance(299)
  t.equal(outcome, undefined, '1 ms before the timeout: still waiting')
  await timers.advance(1)
  await attempt
  t.equal(outcome, `GET http://127.0.0.1:${port}/healthz: timeout after 300 ms`)
  t.equal(timers.size, 0, 'no timer left behind')
})

t.test('abort ends an attempt at once; an aborted signal starts none', async (t) => {
  let requests = 0
  const port = await listen(t, createServer(() => { requests++ }))
  const timers = new ManualTimers(new ManualClock())
  const ac = new AbortController()
  const pending = createProbeTarget(httpSpec(port)).attempt(1000, timers, ac.signal)
  ac.abort()
  t.equal(await pending, 'prober closed')
  t.equal(timers.size, 0, 'its timeout is cancelled')
  t.equal(await createProbeTarget(tcpSpec(port)).attempt(1000, timers, ac.signal), 'prober closed')
  t.equal(requests, 0)
})

t.test('gRPC: SERVING is ready; a server without the health service is not, and says so', async (t) => {
  const server = http2.createServer()
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (s) => { sessions.add(s); s.on('close', () => { sessions.delete(s) }) })
  let implemented = true
  server.on('stream', (stream) => {
    stream.resume()
    if (!implemented) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true })
      return
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => { stream.sendTrailers({ 'grpc-status': '0' }) })
    // HealthCheckResponse{status: SERVING}: field 1, varint 1; one uncompressed gRPC frame.
    stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => { for (const s of sessions) s.destroy(); server.close(() => { resolve() }) }))
  const addr = server.address()
  const port = addr !== null && typeof addr === 'object' ? addr.port : 0
  const target = createProbeTarget(grpcSpec(port, 'my.Svc'))
  t.equal(target.description, `gRPC 127.0.0.1:${port} grpc.health.v1.Health/Check service="my.Svc"`)
  t.equal(await target.attempt(1000, realTimers, live()), null)
  implemented = false
  t.match(await target.attempt(1000, realTimers, live()), /does not implement the grpc health protocol/)
})
