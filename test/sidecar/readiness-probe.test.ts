import t from 'tap'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import { pino, type Logger } from 'pino'
import { ManualClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { ManualTimers, type TimerHandle, type Timers } from '../../src/shared/timers.ts'
import {
  AGGRESSIVE_POLL_TIMEOUT_MS, AGGRESSIVE_PROBE_TIMEOUT_MS, AGGRESSIVE_RETRY_INTERVAL_MS, ReadinessProber,
} from '../../src/sidecar/readiness-probe.ts'
import type {
  GrpcProbeSpec, HttpProbeSpec, ProbeSpec, TcpProbeSpec,
} from '../../src/sidecar/readiness-probe-spec.ts'

/** All the helpers need of a tap test. */
interface Test { teardown (fn: () => void): void }

// ---- helpers ----------------------------------------------------------------------------------------

const TIMING = { timeoutMs: 1000, periodMs: 0, successThreshold: 1, failureThreshold: 3 }

function tcpSpec (port: number, over: Partial<TcpProbeSpec> = {}): TcpProbeSpec {
  return { kind: 'tcp', host: '127.0.0.1', port, ...TIMING, ...over }
}

function httpSpec (port: number, over: Partial<HttpProbeSpec> = {}): HttpProbeSpec {
  return { kind: 'http', scheme: 'http', host: '127.0.0.1', port, path: '/', headers: [], ...TIMING, ...over }
}

function grpcSpec (port: number, over: Partial<GrpcProbeSpec> = {}): GrpcProbeSpec {
  return { kind: 'grpc', host: '127.0.0.1', port, service: '', ...TIMING, ...over }
}

/** One attempt per check with this timeout (periodSeconds > 0). */
const PERIODIC = { periodMs: 1000, timeoutMs: 500 }

function newProber (t: Test, specs: ProbeSpec[], opts: Partial<ConstructorParameters<typeof ReadinessProber>[1]> = {}): ReadinessProber {
  const prober = new ReadinessProber(specs, { logger: silentLogger(), ...opts })
  t.teardown(() => { prober.close() })
  return prober
}

function listen (t: Test, server: net.Server, port = 0): Promise<number> {
  t.teardown(() => {
    if (server instanceof http.Server) server.closeAllConnections()
    server.close()
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address()
      resolve(addr !== null && typeof addr === 'object' ? addr.port : 0)
    })
  })
}

/** A port nothing listens on (bound, then released). */
async function closedPort (): Promise<number> {
  const server = net.createServer()
  const port = await new Promise<number>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address()
      resolve(addr !== null && typeof addr === 'object' ? addr.port : 0)
    })
  })
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  return port
}

interface Recorded { count: number, requests: http.IncomingMessage[] }

/** An HTTP server answering with the given statuses in turn (the last one repeats). */
async function statusServer (t: Test, statuses: number[], delayMs = 0): Promise<{ port: number, seen: Recorded }> {
  const seen: Recorded = { count: 0, requests: [] }
  const server = http.createServer((req, res) => {
    const status = statuses[Math.min(seen.count, statuses.length - 1)] ?? 200
    seen.count++
    seen.requests.push(req)
    const reply = (): void => {
      if (status >= 300 && status < 400) res.setHeader('Location', '/elsewhere')
      res.writeHead(status).end('body')
    }
    if (delayMs > 0) setTimeout(reply, delayMs)
    else reply()
  })
  return { port: await listen(t, server), seen }
}

/** A TCP server that accepts connections and never says anything; `accepted` counts them. */
async function silentServerCounting (t: Test): Promise<{ port: number, accepted (): number }> {
  const sockets = new Set<net.Socket>()
  let accepted = 0
  const server = net.createServer((socket) => {
    accepted++
    sockets.add(socket)
    socket.on('close', () => { sockets.delete(socket) })
  })
  t.teardown(() => { for (const s of sockets) s.destroy() })
  return { port: await listen(t, server), accepted: () => accepted }
}

async function silentServer (t: Test): Promise<number> {
  return (await silentServerCounting(t)).port
}

/** Resolves once `cond` holds, checking after each turn of the event loop (no fixed sleep). */
/** A few turns of the event loop, so socket events and promise chains that are due have run. */
async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => { setImmediate(resolve) })
}

async function eventually (cond: () => boolean, what: string, turns = 100_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (cond()) return
    await new Promise<void>((resolve) => { setImmediate(resolve) })
  }
  throw new Error(`never happened: ${what}`)
}

/**
 * Timers on a ManualClock that fire only when the test says: `fireNext()` moves the clock to the
 * earliest pending timer's due time and runs it. `real` (by requested ms) are left to real timers.
 */
function steppedTimers (clock: ManualClock, realMs: readonly number[]) {
  interface Due { id: number, dueMs: number, ms: number, cb: () => void }
  const pending = new Map<number, Due>()
  const real = new Map<number, NodeJS.Timeout>()
  let nextId = 0
  return {
    pending,
    setTimeout (cb: () => void, ms: number): TimerHandle {
      const id = ++nextId
      if (realMs.includes(ms)) real.set(id, setTimeout(() => { real.delete(id); cb() }, ms))
      else pending.set(id, { id, dueMs: clock.nowMs() + ms, ms, cb })
      return {
        cancel () {
          clearTimeout(real.get(id))
          real.delete(id)
          pending.delete(id)
        },
      }
    },
    setInterval: noInterval,
    /** Fires the earliest pending timer; returns the ms it was set for. */
    fireNext (): number {
      let next: Due | null = null
      for (const d of pending.values()) if (next === null || d.dueMs < next.dueMs) next = d
      if (next === null) throw new Error('no timer pending')
      pending.delete(next.id)
      clock.advance(next.dueMs - clock.nowMs())
      next.cb()
      return next.ms
    },
  }
}

function capturingLogger (): { logger: Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write (s: string) { lines.push(JSON.parse(s)) } })
  return { logger, lines }
}

/** Real timers that remember which are pending. */
function countingTimers (): Timers & { active: Map<number, NodeJS.Timeout> } {
  const active = new Map<number, NodeJS.Timeout>()
  let nextId = 0
  return {
    active,
    setTimeout (cb, ms) {
      const id = ++nextId
      active.set(id, setTimeout(() => { active.delete(id); cb() }, ms))
      return {
        cancel () {
          clearTimeout(active.get(id))
          active.delete(id)
        },
      }
    },
    setInterval: noInterval,
  }
}

function noInterval (): TimerHandle {
  throw new Error('the readiness prober sets no interval')
}

// ---- tests ------------------------------------------------------------------------------------------

t.test('no probe configured: always ready', async (t) => {
  const prober = newProber(t, [])
  t.equal(prober.isReady, true)
  t.equal(await prober.check(), true)
  await prober.waitUntilReady()
})

t.test('tcp: ready when something listens, not ready on a closed port', async (t) => {
  const port = await listen(t, net.createServer((s) => { s.destroy() }))
  const ok = newProber(t, [tcpSpec(port, PERIODIC)])
  t.equal(ok.isReady, false, 'not ready before the first check')
  t.equal(await ok.check(), true)
  t.equal(ok.isReady, true)

  const bad = newProber(t, [tcpSpec(await closedPort(), PERIODIC)])
  t.equal(await bad.check(), false)
  t.equal(bad.isReady, false)
})

t.test('http: 200 and 302 are ready, 500 is not', async (t) => {
  for (const [status, want] of [[200, true], [302, true], [399, true], [404, false], [500, false]] as const) {
    const { port, seen } = await statusServer(t, [status])
    const prober = newProber(t, [httpSpec(port, PERIODIC)])
    t.equal(await prober.check(), want, `status ${status}`)
    t.equal(seen.count, 1, `status ${status}: one request, redirect not followed`)
  }
})

t.test('http: the probe request carries Knative\'s headers and the configured ones', async (t) => {
  const { port, seen } = await statusServer(t, [200])
  const prober = newProber(t, [httpSpec(port, {
    ...PERIODIC,
    path: '/healthz?full=1',
    headers: [
      { name: 'X-Custom', value: 'a' },
      { name: 'X-Custom', value: 'b' },
      { name: 'K-Kubelet-Probe', value: 'x' },
      { name: 'User-Agent', value: 'ignored-as-in-knative' },
    ],
  })])
  t.equal(await prober.check(), true)
  const req = seen.requests[0]
  t.ok(req !== undefined)
  if (req === undefined) return
  t.equal(req.method, 'GET')
  t.equal(req.url, '/healthz?full=1')
  t.equal(req.headers['user-agent'], 'kube-probe//')
  t.equal(req.headers['x-custom'], 'a, b')
  t.equal(req.headers['k-kubelet-probe'], 'x')
  t.equal(req.headers.connection, 'close', 'no keep-alive')
  t.equal(req.headers.host, `127.0.0.1:${port}`)
})

// Self-signed, test only (openssl req -x509 -newkey ec -days 36500 -subj /CN=localhost).
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRZ40rBbIanouZmn8
AAANZ7NNmUziIvePdA1of5DTUUmhRANCAAT/Njl4XlQTsPsWBdWgejWsR+eQQEer
mJL+c7taWjMPyQxNq+FQzmpDjiMm7xGj6HbUwroxGD1EBptgOi0duzbz
-----END PRIVATE KEY-----`
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIUGP7ItEKVIXhzNgeiZXljIfl5wacwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMzE3NDQzN1oYDzIxMjYxMDMw
MTc0NDM3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAT/Njl4XlQTsPsWBdWgejWsR+eQQEermJL+c7taWjMPyQxNq+FQzmpD
jiMm7xGj6HbUwroxGD1EBptgOi0duzbzo1MwUTAdBgNVHQ4EFgQUeovjyNMWvonh
zYIN8YbDWlxNMf8wHwYDVR0jBBgwFoAUeovjyNMWvonhzYIN8YbDWlxNMf8wDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiAW8M8wQ6uJYRXWu0OXZ2dN
jUYfux3dgLaNbLF6PleQcwIhAKWmgASI8yWV5a4kFPsoEwkDxD2Q0dqQk6NaxIPk
7Ah5
-----END CERTIFICATE-----`

t.test('https: self-signed certificates are accepted, as the kubelet does', async (t) => {
  let seen = 0
  const server = https.createServer({ key: TEST_KEY, cert: TEST_CERT }, (_req, res) => { seen++; res.end('ok') })
  const port = await listen(t, server)
  t.teardown(() => { server.closeAllConnections() })
  const prober = newProber(t, [httpSpec(port, { ...PERIODIC, scheme: 'https' })])
  t.equal(await prober.check(), true)
  t.equal(seen, 1)
  const plain = newProber(t, [httpSpec(port, { ...PERIODIC, scheme: 'http' })])
  t.equal(await plain.check(), false, 'plain HTTP against a TLS port fails')
})

t.test('http: connection refused is not ready', async (t) => {
  const prober = newProber(t, [httpSpec(await closedPort(), PERIODIC)])
  t.equal(await prober.check(), false)
})

t.test('timeout: a server that accepts but never answers', async (t) => {
  const silent = await silentServerCounting(t)

  let timers = new ManualTimers(new ManualClock())
  const periodic = newProber(t, [httpSpec(silent.port, { periodMs: 1000, timeoutMs: 200 })], { clock: timers.clock, timers })
  let settled = false
  const periodicCheck = periodic.check().then((ready) => { settled = true; return ready })
  await eventually(() => silent.accepted() === 1 && timers.size === 1, 'the periodic attempt is connected and waiting')
  await timers.advance(199)
  await settle()
  t.equal(settled, false, 'no answer yet, 1 ms before timeoutMs')
  await timers.advance(1)
  t.equal(await periodicCheck, false, 'periodic http')
  t.equal(timers.clock.nowMs(), 200, 'ended at the attempt timeout')

  timers = new ManualTimers(new ManualClock())
  const before = silent.accepted()
  const aggressive = newProber(t, [httpSpec(silent.port)], { pollTimeoutMs: 250, clock: timers.clock, timers })
  settled = false
  const aggressiveCheck = aggressive.check().then((ready) => { settled = true; return ready })
  // Attempts of 100 ms (back to back: each outlasts the 50 ms retry interval) until the 250 ms window has passed.
  for (let attempt = 1; attempt <= 3; attempt++) {
    await eventually(() => silent.accepted() === before + attempt && timers.size === 1, `attempt ${attempt} waiting`)
    t.equal(timers.clock.nowMs(), (attempt - 1) * AGGRESSIVE_PROBE_TIMEOUT_MS, `attempt ${attempt} started at once: no pause after an attempt that outlasted the retry interval`)
    await timers.advance(AGGRESSIVE_PROBE_TIMEOUT_MS - 1)
    await settle()
    t.equal(settled, false, `still checking at ${timers.clock.nowMs()} ms`)
    // Times the attempt out; the pause after it is 0 ms and fires within the same advance.
    await timers.advance(1)
  }
  t.equal(await aggressiveCheck, false, 'aggressive http')
  t.equal(timers.clock.nowMs(), 300, 'gave up after the attempt that passed the 250 ms window')
})

t.test('aggressive: successThreshold consecutive successes; the count survives across checks', async (t) => {
  const { port, seen } = await statusServer(t, [200])
  const prober = newProber(t, [httpSpec(port, { successThreshold: 3 })])
  t.equal(await prober.check(), true)
  t.equal(seen.count, 3, 'three attempts for the first check')
  t.equal(await prober.check(), true)
  t.equal(seen.count, 4, 'one attempt once the threshold was reached')
})

t.test('aggressive: a failure resets the success count', async (t) => {
  const { port, seen } = await statusServer(t, [200, 500, 200, 200])
  const prober = newProber(t, [httpSpec(port, { successThreshold: 2 })])
  t.equal(await prober.check(), true)
  t.equal(seen.count, 4)
})

t.test('single-flight: concurrent checks share one probe request', async (t) => {
  const { port, seen } = await statusServer(t, [200], 30)
  const prober = newProber(t, [httpSpec(port, PERIODIC)])
  const checks = Array.from({ length: 10 }, () => prober.check())
  t.equal(checks[0], checks[9], 'the same promise')
  t.same(await Promise.all(checks), Array(10).fill(true))
  t.equal(seen.count, 1, 'one request at the server')
  t.equal(await prober.check(), true, 'a later check probes again')
  t.equal(seen.count, 2)
})

t.test('multi-container: all probes must pass; they run in parallel', async (t) => {
  // Each server holds its answer until the other one has a request too: probes run one after the
  // other would each wait out their timeout and fail, so 'both ready' proves they overlap.
  const held: Array<() => void> = []
  const barrier = (answer: () => void): void => {
    held.push(answer)
    if (held.length === 2) for (const a of held.splice(0)) a()
  }
  const barrierServer = async (statuses: number[]): Promise<{ port: number, seen: Recorded }> => {
    const seen: Recorded = { count: 0, requests: [] }
    const server = http.createServer((req, res) => {
      const status = statuses[Math.min(seen.count, statuses.length - 1)] ?? 200
      seen.count++
      seen.requests.push(req)
      barrier(() => { res.writeHead(status).end('body') })
    })
    return { port: await listen(t, server), seen }
  }
  const a = await barrierServer([200])
  const b = await barrierServer([500, 200])
  const prober = newProber(t, [httpSpec(a.port, PERIODIC), httpSpec(b.port, PERIODIC)])
  t.equal(await prober.check(), false, 'second container not ready')
  t.equal(await prober.check(), true, 'both ready: both requests were in flight at once')
  t.equal(a.seen.count, 2)
  t.equal(b.seen.count, 2)
})

t.test('aggressive: ready within one 50 ms poll interval of the container starting to listen', async (t) => {
  const port = await closedPort()
  const clock = new ManualClock()
  // Attempt timeouts stay real (refused connects end well before them); the pauses between
  // attempts fire when the test says.
  const timers = steppedTimers(clock, [AGGRESSIVE_PROBE_TIMEOUT_MS])
  const prober = newProber(t, [tcpSpec(port)], { clock, timers })
  const ready = prober.waitUntilReady()
  for (let pause = 1; pause <= 6; pause++) {
    await eventually(() => timers.pending.size === 1, `pause ${pause}`)
    t.equal(timers.fireNext(), AGGRESSIVE_RETRY_INTERVAL_MS, `refused: retried after ${AGGRESSIVE_RETRY_INTERVAL_MS} ms`)
  }
  t.equal(prober.isReady, false, 'not ready while nothing listens')
  await eventually(() => timers.pending.size === 1, 'the pause after the last refused attempt')
  await listen(t, net.createServer((s) => { s.destroy() }), port)
  const listenedAtMs = clock.nowMs()
  timers.fireNext()
  await ready
  t.equal(prober.isReady, true)
  t.equal(clock.nowMs() - listenedAtMs, AGGRESSIVE_RETRY_INTERVAL_MS, 'ready at the first attempt after listen, one poll interval later at most')
})

t.test('aggressive: gives up after the 10 s poll window (fake clock)', async (t) => {
  const clock = new ManualClock()
  const { logger, lines } = capturingLogger()
  // Attempt timeouts stay real (refused connects end well before them); pauses advance the fake clock.
  const real = new Map<number, NodeJS.Timeout>()
  const fake = new Map<number, NodeJS.Immediate>()
  let nextId = 0
  const prober = newProber(t, [tcpSpec(await closedPort())], {
    logger,
    clock,
    timers: {
      setTimeout: (cb: () => void, ms: number): TimerHandle => {
        const id = ++nextId
        if (ms === AGGRESSIVE_PROBE_TIMEOUT_MS) {
          real.set(id, setTimeout(() => { real.delete(id); cb() }, ms))
        } else {
          fake.set(id, setImmediate(() => { fake.delete(id); clock.advance(ms); cb() }))
        }
        return {
          cancel () {
            clearTimeout(real.get(id))
            clearImmediate(fake.get(id))
            real.delete(id)
            fake.delete(id)
          },
        }
      },
      setInterval: noInterval,
    },
  })
  t.equal(await prober.check(), false)
  t.equal(clock.nowMs(), AGGRESSIVE_POLL_TIMEOUT_MS, 'polled for exactly the window')
  t.equal(lines.length, 1)
  t.match(lines[0], { msg: 'user container not ready', reason: /^aggressive probe error \(failed 201 times\): TCP 127\.0\.0\.1:\d+: connect ECONNREFUSED/ })
})

t.test('logs readiness changes only', async (t) => {
  const { port } = await statusServer(t, [200, 200, 500, 500, 200, 200])
  const { logger, lines } = capturingLogger()
  const prober = newProber(t, [httpSpec(port, PERIODIC)], { logger })
  const results = []
  for (let i = 0; i < 6; i++) results.push(await prober.check())
  t.same(results, [true, true, false, false, true, true])
  t.same(lines.map((l) => l.msg), ['user container ready', 'user container not ready', 'user container ready'])
  t.match(lines[1], { level: 40, reason: /HTTP probe did not respond Ready, got status code: 500/ })
})

t.test('waitUntilReady rejects with the signal\'s reason on abort', async (t) => {
  const prober = newProber(t, [tcpSpec(await closedPort())])
  const ac = new AbortController()
  const reason = new Error('stop waiting')
  setTimeout(() => { ac.abort(reason) }, 60)
  await t.rejects(prober.waitUntilReady(ac.signal), reason)
  const pre = new AbortController()
  pre.abort(reason)
  await t.rejects(prober.waitUntilReady(pre.signal), reason, 'already aborted')
})

t.test('close() ends checks and waits at once and leaves no timer behind', async (t) => {
  const timers = countingTimers()
  const silentPort = await silentServer(t)
  const prober = new ReadinessProber([tcpSpec(await closedPort()), httpSpec(silentPort)], {
    logger: silentLogger(),
    timers,
  })
  const wait = prober.waitUntilReady()
  const check = prober.check()
  await eventually(() => timers.active.size > 0, 'a probe timer')
  t.ok(timers.active.size > 0, 'probing in progress')
  prober.close()
  t.equal(timers.active.size, 0, 'no timers left')
  await t.rejects(wait, { name: 'AbortError' })
  t.equal(await check, false)
  t.equal(await prober.check(), false, 'checks after close are not ready')
  t.equal(timers.active.size, 0, 'still no timers')
})

// ---- gRPC -------------------------------------------------------------------------------------------

interface GrpcSeen { services: string[], userAgents: string[] }

/** A grpc.health.v1 server: answers `status` (a ServingStatus number), or a grpc-status error code. */
async function grpcServer (t: Test, reply: { status: number } | { grpcStatus: number }): Promise<{ port: number, seen: GrpcSeen }> {
  const seen: GrpcSeen = { services: [], userAgents: [] }
  const server = http2.createServer()
  const sessions = new Set<http2.ServerHttp2Session>()
  server.on('session', (s) => { sessions.add(s); s.on('close', () => { sessions.delete(s) }) })
  t.teardown(() => { for (const s of sessions) s.destroy() })
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => { chunks.push(c) })
    stream.on('end', () => {
      const body = Buffer.concat(chunks)
      // HealthCheckRequest: prefix(5) + [0x0a, len, ...service] (lengths < 128 here)
      seen.services.push(body.length > 5 ? body.subarray(7).toString() : '')
      seen.userAgents.push(String(headers['user-agent']))
      if (headers[':path'] !== '/grpc.health.v1.Health/Check' || 'grpcStatus' in reply) {
        const code = 'grpcStatus' in reply ? reply.grpcStatus : 12
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code) }, { endStream: true })
        return
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => { stream.sendTrailers({ 'grpc-status': '0' }) })
      const message = reply.status === 0 ? Buffer.alloc(0) : Buffer.from([0x08, reply.status])
      const frame = Buffer.alloc(5 + message.length)
      frame.writeUInt32BE(message.length, 1)
      message.copy(frame, 5)
      stream.end(frame)
    })
  })
  return { port: await listen(t, server), seen }
}

t.test('grpc: ready only on SERVING', async (t) => {
  const cases: Array<{ name: string, reply: { status: number } | { grpcStatus: number }, want: boolean, reason?: RegExp }> = [
    { name: 'SERVING', reply: { status: 1 }, want: true },
    { name: 'NOT_SERVING', reply: { status: 2 }, want: false, reason: /service unhealthy \(responded with "NOT_SERVING"\)/ },
    { name: 'UNKNOWN (empty message)', reply: { status: 0 }, want: false, reason: /responded with "UNKNOWN"/ },
    { name: 'unimplemented', reply: { grpcStatus: 12 }, want: false, reason: /does not implement the grpc health protocol/ },
    { name: 'other grpc error', reply: { grpcStatus: 5 }, want: false, reason: /health rpc probe failed: grpc-status 5/ },
  ]
  for (const c of cases) {
    const { port, seen } = await grpcServer(t, c.reply)
    const { logger, lines } = capturingLogger()
    const prober = newProber(t, [grpcSpec(port, { ...PERIODIC, service: 'my.pkg.Svc' })], { logger })
    t.equal(await prober.check(), c.want, c.name)
    t.same(seen.services, ['my.pkg.Svc'], `${c.name}: service sent`)
    t.same(seen.userAgents, ['kube-probe//'], `${c.name}: user agent`)
    if (c.reason !== undefined) t.match(lines[0], { reason: c.reason }, `${c.name}: reason`)
  }
})

t.test('grpc: empty service, aggressive mode, and not ready on a closed port or an HTTP/1 server', async (t) => {
  const { port, seen } = await grpcServer(t, { status: 1 })
  const prober = newProber(t, [grpcSpec(port)])
  t.equal(await prober.check(), true)
  t.same(seen.services, [''])

  t.equal(await newProber(t, [grpcSpec(await closedPort(), PERIODIC)]).check(), false, 'closed port')
  const h1 = await statusServer(t, [200])
  t.equal(await newProber(t, [grpcSpec(h1.port, { periodMs: 1000, timeoutMs: 300 })]).check(), false, 'HTTP/1 server')
})
