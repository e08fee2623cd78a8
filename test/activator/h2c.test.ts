import { once } from 'node:events'
import { connect, constants, createServer as createH2Server, type ClientHttp2Session, type ClientHttp2Stream, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import t from 'tap'
import type { Readable } from 'node:stream'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { closeAllConnections, createDualServer, MAX_REQUEST_HEAD_BYTES } from '../../src/server/h2c-sniffing-server.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { certDir, makePair, SKIP_WITHOUT_OPENSSL } from '../helpers/test-certs.ts'
import { createClient, route, send, spec, startActivator, startSidecar, type Teardown } from './fixtures.ts'

// gRPC (h2c) through the activator, over real sockets: a node:http2 client with prior knowledge ->
// the activator -> a real Sluice sidecar -> an h2c app that speaks gRPC's framing (5-byte
// length-prefixed messages, `content-type: application/grpc`, grpc-status in trailers).
//
// Waits are events. "The activator has taken the request" is an HTTP/2 PING round trip on the
// client's session: the server answers a PING after the frames before it, and node's HTTP/2 server
// runs the request handler (routing, throttler) synchronously when it reads a HEADERS frame.

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = constants

// --- gRPC framing ---------------------------------------------------------------------------

function grpcFrame (payload: string): Buffer {
  const body = Buffer.from(payload)
  const out = Buffer.alloc(5 + body.length)
  out.writeUInt8(0, 0) // not compressed
  out.writeUInt32BE(body.length, 1)
  body.copy(out, 5)
  return out
}

/** Splits a byte stream into gRPC messages as they complete. */
class GrpcReader {
  #buf = Buffer.alloc(0)
  readonly messages: string[] = []
  push (chunk: Buffer): string[] {
    this.#buf = Buffer.concat([this.#buf, chunk])
    const done: string[] = []
    while (this.#buf.length >= 5) {
      const len = this.#buf.readUInt32BE(1)
      if (this.#buf.length < 5 + len) break
      done.push(this.#buf.subarray(5, 5 + len).toString())
      this.#buf = this.#buf.subarray(5 + len)
    }
    this.messages.push(...done)
    return done
  }
}

// --- the h2c app (gRPC-shaped) ----------------------------------------------------------------

interface GrpcApp {
  port: number
  /** Headers of every call the app received, in order. */
  calls: IncomingHttpHeaders[]
  /** Calls to /test.Hold/Wait not answered yet, oldest first. */
  held: ServerHttp2Stream[]
  /** Resolves with the next call's stream. */
  nextCall (): Promise<ServerHttp2Stream>
}

/**
 * /test.Echo/Unary: one message in, `echo:<it>` out; /test.Echo/Chat: every message echoed as it
 * arrives (bidi streaming), trailers when the client ends; /test.Hold/Wait: held until the test answers.
 */
async function startGrpcApp (t: Teardown): Promise<GrpcApp> {
  const server: Http2Server = createH2Server()
  const waiters: Array<(s: ServerHttp2Stream) => void> = []
  const app: GrpcApp = {
    port: 0,
    calls: [],
    held: [],
    nextCall: () => new Promise((resolve) => { waiters.push(resolve) }),
  }
  server.on('stream', (stream, headers) => {
    app.calls.push(headers)
    stream.on('error', () => {})
    const path = headers[':path']
    const reader = new GrpcReader()
    if (path === '/test.Hold/Wait') {
      app.held.push(stream)
      stream.on('close', () => { app.held.splice(app.held.indexOf(stream), 1) })
    } else if (path === '/test.Echo/Chat') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => { stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'chat over' }) })
      stream.on('data', (c: Buffer) => { for (const m of reader.push(c)) stream.write(grpcFrame(`echo:${m}`)) })
      stream.on('end', () => { stream.end() })
    } else {
      stream.on('data', (c: Buffer) => { reader.push(c) })
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
        stream.on('wantTrailers', () => { stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' }) })
        stream.end(grpcFrame(`echo:${reader.messages.join(',')}`))
      })
    }
    const w = waiters.shift()
    if (w !== undefined) w(stream)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  app.port = (server.address() as AddressInfo).port
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => { resolve() }) }))
  return app
}

/** Answers a held call the gRPC way. */
function answerHeld (stream: ServerHttp2Stream, reply: string): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
  stream.on('wantTrailers', () => { stream.sendTrailers({ 'grpc-status': '0' }) })
  stream.end(grpcFrame(reply))
}

// --- the client -------------------------------------------------------------------------------

function h2Session (t: Teardown, url: string): ClientHttp2Session {
  const session = connect(url)
  session.on('error', () => {})
  t.teardown(() => { session.destroy() })
  return session
}

/** One PING round trip: the server has read (and handled) every frame sent before it. */
async function serverCaughtUp (session: ClientHttp2Session): Promise<void> {
  // A PING sent before the connection is up is cancelled, not queued.
  if (session.connecting) await once(session, 'connect')
  await new Promise<void>((resolve, reject) => {
    session.ping((err) => { if (err === null) resolve(); else reject(err) })
  })
}

interface CallResult {
  status: number
  headers: IncomingHttpHeaders
  messages: string[]
  trailers: IncomingHttpHeaders
}

function grpcHeaders (path: string, extra: Record<string, string>): Record<string, string> {
  return { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra }
}

/** Collects a call's response: status, messages, trailers. */
function collect (stream: ClientHttp2Stream): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    const reader = new GrpcReader()
    const out: CallResult = { status: 0, headers: {}, messages: reader.messages, trailers: {} }
    stream.on('response', (h) => { out.status = Number(h[':status']); out.headers = h })
    stream.on('trailers', (tr) => { out.trailers = tr })
    stream.on('data', (c: Buffer) => { reader.push(c) })
    stream.on('end', () => { resolve(out) })
    stream.on('error', reject)
  })
}

function unary (session: ClientHttp2Session, path: string, message: string, extra: Record<string, string> = route('grpc')): { stream: ClientHttp2Stream, result: Promise<CallResult> } {
  const stream = session.request(grpcHeaders(path, extra))
  const result = collect(stream)
  stream.end(grpcFrame(message))
  return { stream, result }
}

// --- fixtures -------------------------------------------------------------------------------

async function startStack (t: Teardown, cc: number, endpointAtStart: boolean, argv: string[] = []) {
  const { activator, url, ports } = await startActivator(t, argv)
  const app = await startGrpcApp(t)
  const { dest } = await startSidecar(t, app.port, cc)
  activator.registry.upsert(spec('grpc', endpointAtStart ? [dest] : [], cc))
  const revision = activator.registry.lookup('default', 'grpc')
  if (revision === undefined) throw new Error('revision not registered')
  return { activator, url, ports, app, dest, revision }
}

// --- tests ----------------------------------------------------------------------------------

t.test('cold: an h2c call to a revision with no endpoint is buffered, then served with its trailers when the endpoint appears', async (t) => {
  const { activator, url, app, dest, revision } = await startStack(t, 1, false)
  const session = h2Session(t, url)
  const call = unary(session, '/test.Echo/Unary', 'ping')
  await serverCaughtUp(session)
  t.equal(revision.throttler.queued, 1, 'buffered in the activator while the revision has no endpoint')
  t.equal(app.calls.length, 0, 'nothing reached the app')

  activator.registry.upsert(spec('grpc', [dest], 1))
  const r = await call.result
  t.equal(r.status, 200)
  t.equal(r.headers['content-type'], 'application/grpc')
  t.same(r.messages, ['echo:ping'], 'the request body arrived whole after buffering')
  t.equal(r.trailers['grpc-status'], '0', 'grpc-status trailer reached the client')
  t.equal(r.trailers['grpc-message'], 'ok')
  t.equal(revision.proxy.coldStarts.count, 1, 'recorded as a cold start')
  t.equal(app.calls[0]?.te, 'trailers', 'te: trailers kept on both hops')
  t.equal(revision.throttler.inFlight, 0, 'slot returned')
})

t.test('cold burst: 200 calls multiplexed on one session are all buffered, then all served at CC=10 with their trailers', async (t) => {
  const { activator, url, dest, revision } = await startStack(t, 10, false)
  const session = h2Session(t, url)
  // Until the server's SETTINGS arrive the client assumes at most 100 streams and holds the rest back.
  await once(session, 'remoteSettings')
  const calls = Array.from({ length: 200 }, (_, i) => unary(session, '/test.Echo/Unary', `m${i}`).result)
  await serverCaughtUp(session)
  t.equal(revision.throttler.queued, 200, 'every stream buffered')
  activator.registry.upsert(spec('grpc', [dest], 10))
  const results = await Promise.all(calls)
  t.equal(results.filter((r, i) => r.status === 200 && r.trailers['grpc-status'] === '0' && r.messages[0] === `echo:m${i}`).length, 200, 'all 200 answered, each with its own reply and trailers')
  const tracker = [...revision.trackers()][0]
  t.ok(tracker !== undefined && tracker.maxInFlight <= 10, `never above CC at the endpoint (peak ${tracker?.maxInFlight})`)
  t.equal(revision.throttler.inFlight, 0)
})

t.test('warm: unary and bidi-streaming gRPC calls, messages flowing both ways before either side ends', async (t) => {
  const { activator, url, ports, app, revision } = await startStack(t, 2, true)
  const session = h2Session(t, url)
  // The first call waits (buffered) until the activator's probe marks the endpoint ready.
  t.equal((await unary(session, '/test.Echo/Unary', 'first').result).status, 200)
  t.equal(revision.throttler.readyCount, 1, 'endpoint ready: the next calls are warm')
  const coldStarts = revision.proxy.coldStarts.count

  const r = await unary(session, '/test.Echo/Unary', 'ping').result
  t.same(r.messages, ['echo:ping'])
  t.equal(r.trailers['grpc-status'], '0')
  t.equal(revision.proxy.coldStarts.count, coldStarts, 'no further cold start')

  // Bidi streaming: each reply must arrive while the request stream is still open.
  const chat = session.request(grpcHeaders('/test.Echo/Chat', route('grpc')))
  const done = collect(chat)
  const replies: string[] = []
  const reader = new GrpcReader()
  const nextReply = (): Promise<string> => new Promise((resolve) => {
    const onData = (c: Buffer): void => {
      const got = reader.push(c)
      if (got.length > 0) { chat.off('data', onData); replies.push(...got); resolve(got[0] ?? '') }
    }
    chat.on('data', onData)
  })
  for (const m of ['one', 'two', 'three']) {
    const reply = nextReply()
    chat.write(grpcFrame(m))
    t.equal(await reply, `echo:${m}`, `reply to ${m} while the call is open`)
  }
  chat.end()
  const result = await done
  t.equal(result.status, 200)
  t.equal(result.trailers['grpc-status'], '0', 'streaming call ends with its grpc-status trailer')
  t.equal(result.trailers['grpc-message'], 'chat over')
  t.same(replies, ['echo:one', 'echo:two', 'echo:three'])
  t.equal(app.calls.length, 3)
  t.equal(revision.throttler.inFlight, 0)

  // Counted like HTTP/1.1 requests: the revision's stats and the activator's responses.
  activator.reporter.report()
  const metrics = await send(createClient(t), `http://127.0.0.1:${ports.metrics}`, { path: '/metrics' })
  t.match(metrics.body, /queue_requests_per_second\{destination_namespace="default",destination_configuration="",destination_revision="grpc",destination_pod="activator-test"\} [1-9]/)
  t.match(metrics.body, /sluice_responses_total\{class="2xx"\} 3\n/, 'three h2 calls answered 2xx')
})

t.test('a client that resets its stream, while buffered or in flight, frees its slot (CC=1)', async (t) => {
  const { url, app, revision } = await startStack(t, 1, true)
  const session = h2Session(t, url)
  t.equal((await unary(session, '/test.Echo/Unary', 'warm-up').result).status, 200)

  // A holds the only slot at the app; B waits in the activator's queue.
  const heldCall = app.nextCall()
  const a = unary(session, '/test.Hold/Wait', 'a')
  const aAtApp = await heldCall
  const b = unary(session, '/test.Hold/Wait', 'b')
  b.result.catch(() => {})
  await serverCaughtUp(session)
  t.equal(revision.throttler.queued, 1, 'B buffered behind A (CC=1)')

  // B resets while waiting: it leaves the queue, takes no slot.
  const bClosed = once(b.stream, 'close')
  b.stream.close(NGHTTP2_CANCEL)
  await bClosed
  await serverCaughtUp(session) // the RST_STREAM went before the PING
  t.equal(revision.throttler.queued, 0, 'B left the queue')
  t.equal(revision.throttler.inFlight, 1, 'only A holds a slot')

  // A resets mid-flight: the app's stream is cancelled and the slot comes back.
  a.result.catch(() => {})
  const aGone = once(aAtApp, 'close')
  a.stream.close(NGHTTP2_CANCEL)
  await aGone
  t.equal(aAtApp.rstCode, NGHTTP2_CANCEL, 'the reset reached the app through the sidecar')
  // The activator ended A's exchange on the client's RST_STREAM, before cancelling upstream.
  t.equal(revision.throttler.inFlight, 0, 'A returned its slot')

  // C is served at CC=1: nothing leaked.
  const cAtApp = app.nextCall()
  const c = unary(session, '/test.Hold/Wait', 'c')
  answerHeld(await cAtApp, 'c done')
  const r = await c.result
  t.same(r.messages, ['c done'])
  t.equal(r.trailers['grpc-status'], '0')
  t.same(app.calls.map((h) => h[':path']), ['/test.Echo/Unary', '/test.Hold/Wait', '/test.Hold/Wait'], 'B never reached the app')
  t.equal(revision.throttler.inFlight, 0, 'C returned its slot (its exchange ended before the client saw the end)')
  t.equal(revision.throttler.queued, 0)
})

t.test('an h2c call (with its body) whose endpoint refuses the connection is replayed on another endpoint', async (t) => {
  // A "ready" endpoint nothing listens on: the probe says yes, the connect is refused.
  const closed = createNetServer()
  closed.listen(0, '127.0.0.1')
  await once(closed, 'listening')
  const deadDest = `127.0.0.1:${(closed.address() as AddressInfo).port}`
  await new Promise<void>((resolve) => { closed.close(() => { resolve() }) })
  const { activator, url } = await startActivator(t, [], { probe: { probe: () => Promise.resolve(true) } })
  const app = await startGrpcApp(t)
  const { dest } = await startSidecar(t, app.port, 0)
  activator.registry.upsert(spec('grpc', [deadDest, dest], 0, { lbPolicy: 'round-robin' }))
  const revision = activator.registry.lookup('default', 'grpc')
  const session = h2Session(t, url)
  for (let i = 0; i < 4; i++) {
    const r = await unary(session, '/test.Echo/Unary', `call ${i}`).result
    t.same(r.messages, [`echo:call ${i}`], `call ${i} answered, body intact`)
    t.equal(r.trailers['grpc-status'], '0')
  }
  const dead = [...(revision?.trackers() ?? [])].find((tr) => tr.dest === deadDest)
  t.ok(dead !== undefined && dead.served > 0, 'the refusing endpoint was tried')
})

t.test('a buffered h2c call past its revision\'s timeout gets 504 and leaves the queue', async (t) => {
  const { activator, url } = await startActivator(t)
  activator.registry.upsert(spec('slow', [], 1, { timeoutSeconds: 0.2 }))
  const session = h2Session(t, url)
  const stream = session.request({ ':method': 'GET', ':path': '/', ...route('slow') })
  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => { chunks.push(c) })
  const [headers] = await once(stream, 'response') as [IncomingHttpHeaders]
  await once(stream, 'end')
  t.equal(headers[':status'], 504)
  t.equal(Buffer.concat(chunks).toString(), 'activator request timeout')
  t.equal(activator.registry.lookup('default', 'slow')?.throttler.queued, 0)
})

t.test('shutdown: h2c sessions get GOAWAY, a call in flight finishes with its trailers, then the activator stops', async (t) => {
  const { activator, url, app } = await startStack(t, 1, true, ['--drain-seconds', '0'])
  const session = h2Session(t, url)
  t.equal((await unary(session, '/test.Echo/Unary', 'warm-up').result).status, 200)
  const atApp = app.nextCall()
  const call = unary(session, '/test.Hold/Wait', 'last')
  const held = await atApp
  const goaway = once(session, 'goaway')
  const stopped = activator.shutdown()
  await goaway
  answerHeld(held, 'finished')
  const r = await call.result
  t.same(r.messages, ['finished'], 'the call in flight finished after GOAWAY')
  t.equal(r.trailers['grpc-status'], '0')
  await stopped
  t.equal(activator.active.count, 0)
})

/**
 * A pod that answers the activator's probe like a sidecar and records each request's protocol and
 * headers: HTTP/1.1 and h2c on one port, by the sidecar's own preface sniffing (node's http2
 * `allowHTTP1` needs TLS).
 */
async function startDualPod (t: Teardown, refuseStreams = 0): Promise<{ dest: string, seen: Array<{ version: string, headers: IncomingHttpHeaders }> }> {
  const seen: Array<{ version: string, headers: IncomingHttpHeaders }> = []
  let toRefuse = refuseStreams
  const dual = createDualServer({ impl: 'node', http2: true, keepAliveTimeoutMs: 5_000, headersTimeoutMs: 5_000, maxHeadBytes: MAX_REQUEST_HEAD_BYTES, logger: silentLogger() }, (req, res) => {
    if (req.headers['k-network-probe'] === 'queue') { res.end(Buffer.from('queue')); return }
    if (req.httpVersionMajor === 2 && toRefuse > 0) {
      // As a server past its GOAWAY: RST_STREAM(REFUSED_STREAM), the request left unprocessed.
      toRefuse--
      ;(req as unknown as { stream: ServerHttp2Stream }).stream.close(NGHTTP2_REFUSED_STREAM)
      return
    }
    seen.push({ version: `${req.httpVersionMajor}.${req.httpVersionMinor}`, headers: req.headers })
    const body = req as unknown as Readable
    body.resume()
    body.on('end', () => { res.end(Buffer.from(`v${req.httpVersionMajor}.${req.httpVersionMinor}`)) })
  })
  const sessions = new Set<ServerHttp2Session>()
  dual.h2.on('session', (session: ServerHttp2Session) => { sessions.add(session) })
  dual.net.listen(0, '127.0.0.1')
  await once(dual.net, 'listening')
  t.teardown(() => {
    closeAllConnections(dual)
    for (const session of sessions) session.destroy()
    return new Promise<void>((resolve) => { dual.net.close(() => { resolve() }) })
  })
  return { dest: `127.0.0.1:${(dual.net.address() as AddressInfo).port}`, seen }
}

t.test('to the endpoint: HTTP/2 requests over h2c, HTTP/1.1 ones over HTTP/1.1 (Knative picks by the request), with the same header rewrites', async (t) => {
  const { activator, url } = await startActivator(t)
  const pod = await startDualPod(t)
  activator.registry.upsert(spec('grpc', [pod.dest], 0, { hosts: ['grpc.example.com'] }))
  const session = h2Session(t, url)
  const h2 = session.request({ ':method': 'POST', ':path': '/x', ':authority': 'hello.default.example.com', te: 'trailers', 'k-proxy-request': 'spoofed', ...route('grpc') })
  const h2Result = collect(h2)
  h2.end('body')
  await h2Result
  const h1 = await send(createClient(t), url, { method: 'POST', path: '/x', headers: { host: 'hello.default.example.com', ...route('grpc') }, body: 'body' })
  t.equal(h1.body, 'v1.1')
  t.equal(pod.seen[0]?.version, '2.0', 'HTTP/2 client -> h2c to the endpoint')
  t.equal(pod.seen[1]?.version, '1.1', 'HTTP/1.1 client -> HTTP/1.1 to the endpoint')
  for (const [i, s] of pod.seen.entries()) {
    t.equal(s.headers['k-proxy-request'], 'activator', `#${i}: K-Proxy-Request: activator (a client's value replaced)`)
    t.equal(s.headers['k-original-host'], 'hello.default.example.com', `#${i}: K-Original-Host is the client's host`)
    t.equal(s.headers['knative-serving-revision'], undefined, `#${i}: routing headers removed`)
    t.equal(s.headers['knative-serving-namespace'], undefined)
  }
  t.equal(pod.seen[0]?.headers.te, 'trailers')

  // Routed by :authority when the routing headers are absent (Go's r.Host).
  const byHost = session.request({ ':method': 'GET', ':path': '/y', ':authority': 'grpc.example.com' })
  const byHostResult = collect(byHost)
  byHost.end()
  t.equal((await byHostResult).status, 200, 'an h2 request routed by its :authority')
  t.equal(pod.seen[2]?.headers['k-original-host'], 'grpc.example.com')
})

t.test('a bodyless HTTP/2 request whose stream the endpoint refuses unprocessed (REFUSED_STREAM) is replayed', async (t) => {
  const { activator, url } = await startActivator(t)
  const pod = await startDualPod(t, 1)
  activator.registry.upsert(spec('grpc', [pod.dest], 0))
  const session = h2Session(t, url)
  const stream = session.request({ ':method': 'GET', ':path': '/again', ...route('grpc') })
  const result = collect(stream)
  stream.end()
  const r = await result
  t.equal(r.status, 200, 'answered by the replay')
  t.equal(pod.seen.length, 1, 'the refused stream was not seen as a request')
  t.equal(pod.seen[0]?.version, '2.0')
})

t.test('--h2c-port: a second serving port, HTTP/1.1 and h2c, the same revisions', async (t) => {
  const { ports, app, revision } = await startStack(t, 1, true)
  t.not(ports.h2c, 0)
  t.not(ports.h2c, ports.serving)
  const h2cUrl = `http://127.0.0.1:${ports.h2c}`
  const session = h2Session(t, h2cUrl)
  const r = await unary(session, '/test.Echo/Unary', 'via 8013').result
  t.same(r.messages, ['echo:via 8013'])
  t.equal(r.trailers['grpc-status'], '0')
  // HTTP/1.1 on the same port reaches the routing too (the h2c-only app then fails it at the sidecar).
  const miss = await send(createClient(t), h2cUrl, { headers: route('nope') })
  t.equal(miss.status, 404, 'HTTP/1.1 on --h2c-port: routed like on --port')
  t.equal(app.calls.length, 1)
  t.equal(revision.throttler.inFlight, 0)
})

t.test('HTTP/2 over TLS (ALPN h2) on --tls-port is forwarded over h2c too, as Knative\'s transport picks by the request', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const dir = certDir(t)
  dir.install(makePair(dir.work, 'activator'))
  const { activator, ports } = await startActivator(t, ['--tls-port', '0', '--tls-cert-dir', dir.dir])
  const app = await startGrpcApp(t)
  const { dest } = await startSidecar(t, app.port, 1)
  activator.registry.upsert(spec('grpc', [dest], 1))
  t.ok(ports.tls !== null && ports.tls > 0, 'TLS port listening')
  const session = connect(`https://127.0.0.1:${ports.tls ?? 0}`, { rejectUnauthorized: false })
  session.on('error', () => {})
  t.teardown(() => { session.destroy() })
  const r = await unary(session, '/test.Echo/Unary', 'over tls').result
  t.same(r.messages, ['echo:over tls'])
  t.equal(r.trailers['grpc-status'], '0', 'trailers relayed from the h2c hop to the h2 client')
})

t.test('config: --h2c-port defaults to Knative\'s 8013 and may not share a port', async (t) => {
  t.equal(loadActivatorConfig([], {}).config?.h2cPort, 8013)
  t.equal(loadActivatorConfig(['--h2c-port', '0'], {}).config?.h2cPort, 0)
  t.same(loadActivatorConfig(['--port', '8013'], {}).problems, ['config: --port and --h2c-port are both 8013'])
})
