import t from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'
import { WebSocketServer, type RawData } from 'ws'
import { CLOSE_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS, StatPusher, type StatsProtocol } from '../../src/activator/stat-pusher.ts'
import { ReconnectBackoff } from '../../src/activator/reconnect-backoff.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { decodeStatMessagesJson, encodeStatMessagesJson } from '../../src/stats/stat-json-wire.ts'
import type { Stat, WireStatMessage } from '../../src/stats/stat.ts'
import type { Logger } from '../../src/shared/logger.ts'
import { checkJsonSchema } from '../helpers/json-schema-check.ts'
import { makePair, SKIP_WITHOUT_OPENSSL } from '../helpers/test-certs.ts'
import { decodeClientFrames, RawServer, serverFrame, type RawConnection } from '../helpers/websocket-fixtures.ts'

const root = protobuf.loadSync(fileURLToPath(new URL('../../src/stats/stat.proto', import.meta.url)))
const PbWireStatMessages = root.lookupType('metrics.WireStatMessages')
const SCHEMA = JSON.parse(readFileSync(new URL('../../docs/stats-protocol.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>

function stat (over: Partial<Stat> = {}): Stat {
  return { podName: 'activator-1', averageConcurrentRequests: 1, averageProxiedConcurrentRequests: 0, requestCount: 1, proxiedRequestCount: 0, processUptime: 0, timestamp: 0, ...over }
}

function msg (name: string, over: Partial<Stat> = {}): WireStatMessage {
  return { namespace: 'default', name, stat: stat(over) }
}

interface Frame { at: number, binary: boolean, data: Buffer }

/** A websocket server that records frames and lets a test wait for the next one. */
class Receiver {
  readonly wss: WebSocketServer
  readonly frames: Frame[] = []
  #waiters: Array<(f: Frame) => void> = []

  constructor (port = 0, autoPong = true) {
    this.wss = new WebSocketServer({ port, host: '127.0.0.1', autoPong })
    this.wss.on('connection', (ws) => {
      ws.on('message', (data: RawData, binary: boolean) => {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
        const f = { at: performance.now(), binary, data: buf }
        this.frames.push(f)
        const w = this.#waiters.shift()
        if (w !== undefined) w(f)
      })
    })
  }

  async ready (): Promise<number> {
    if (this.wss.address() === null) await new Promise((resolve) => { this.wss.once('listening', resolve) })
    return (this.wss.address() as AddressInfo).port
  }

  next (timeoutMs = 2000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('no frame within ' + timeoutMs + ' ms')) }, timeoutMs)
      this.#waiters.push((f) => { clearTimeout(timer); resolve(f) })
    })
  }

  close (): Promise<void> {
    for (const c of this.wss.clients) c.terminate()
    return new Promise((resolve) => { this.wss.close(() => { resolve() }) })
  }
}

async function until (cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs
  while (!cond()) {
    if (performance.now() > end) throw new Error('condition not met in ' + timeoutMs + ' ms')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

async function connected (t: { teardown (fn: () => unknown): void }, protocol: StatsProtocol, receiver: Receiver, extra: Partial<ConstructorParameters<typeof StatPusher>[0]> = {}): Promise<StatPusher> {
  const port = await receiver.ready()
  const pusher = new StatPusher({ url: `ws://127.0.0.1:${port}/`, protocol, ...extra })
  t.teardown(() => pusher.close())
  pusher.start()
  await until(() => pusher.connected, 2000)
  return pusher
}

t.test('knative frames decode with an independent protobuf decoder', async (t) => {
  const rx = new Receiver()
  t.teardown(() => rx.close())
  const pusher = await connected(t, 'knative', rx)
  const batch = [msg('hello', { averageConcurrentRequests: 2.5, requestCount: 7, timestamp: 1_700_000_000 }), msg('world', { podName: 'act-2' })]
  const next = rx.next()
  pusher.send(batch)
  const frame = await next
  t.equal(frame.binary, true, 'binary frame')
  const decoded = PbWireStatMessages.toObject(PbWireStatMessages.decode(frame.data), { longs: Number, defaults: true }) as { messages: Array<{ namespace: string, name: string, stat: Record<string, unknown> }> }
  t.equal(decoded.messages.length, 2)
  t.equal(decoded.messages[0].name, 'hello')
  t.equal(decoded.messages[0].namespace, 'default')
  t.equal(decoded.messages[0].stat.averageConcurrentRequests, 2.5)
  t.equal(decoded.messages[0].stat.requestCount, 7)
  t.equal(decoded.messages[0].stat.timestamp, 1_700_000_000)
  t.equal(decoded.messages[1].stat.podName, 'act-2')
  t.equal(pusher.counters.framesSent, 1)
  t.equal(pusher.counters.messagesSent, 2)
})

t.test('json frames match the published schema and round-trip', async (t) => {
  const rx = new Receiver()
  t.teardown(() => rx.close())
  const pusher = await connected(t, 'json', rx)
  const batch = [msg('hello', { averageConcurrentRequests: 0.25, processUptime: 3.5 }), { namespace: 'ns', name: 'gone', stat: null }]
  const next = rx.next()
  pusher.send(batch)
  const frame = await next
  t.equal(frame.binary, false, 'text frame')
  const doc: unknown = JSON.parse(frame.data.toString('utf8'))
  t.same(checkJsonSchema(SCHEMA, doc), [], 'valid against docs/stats-protocol.schema.json')
  t.same(decodeStatMessagesJson(frame.data.toString('utf8')), batch)
})

t.test('json codec: schema covers what the encoder writes; the decoder rejects what the schema rejects', async (t) => {
  const weird = [msg('a', { averageConcurrentRequests: Number.NaN, requestCount: Number.POSITIVE_INFINITY, timestamp: 12.7 })]
  const text = encodeStatMessagesJson(weird)
  t.same(checkJsonSchema(SCHEMA, JSON.parse(text)), [])
  const back = decodeStatMessagesJson(text)
  t.equal(back[0].stat?.averageConcurrentRequests, 0, 'NaN sent as 0')
  t.equal(back[0].stat?.timestamp, 12)
  const bad: ReadonlyArray<[string, string]> = [
    ['not json', '{'],
    ['wrong version', '{"version":2,"messages":[]}'],
    ['no messages', '{"version":1}'],
    ['empty name', '{"version":1,"messages":[{"name":"","stat":null}]}'],
    ['string number', '{"version":1,"messages":[{"name":"a","stat":{"requestCount":"1"}}]}'],
    ['array stat', '{"version":1,"messages":[{"name":"a","stat":[]}]}'],
  ]
  for (const [name, frame] of bad) {
    t.throws(() => decodeStatMessagesJson(frame), { code: 'SLUICE_ERR_STATS_DECODE' }, name)
    let parsed: unknown = null
    try { parsed = JSON.parse(frame) } catch { continue }
    t.not(checkJsonSchema(SCHEMA, parsed).length, 0, `schema rejects: ${name}`)
  }
  t.same(decodeStatMessagesJson('{"version":1,"messages":[{"name":"a","stat":{},"extra":1}],"later":true}'),
    [{ namespace: '', name: 'a', stat: { podName: '', averageConcurrentRequests: 0, averageProxiedConcurrentRequests: 0, requestCount: 0, proxiedRequestCount: 0, processUptime: 0, timestamp: 0 } }],
    'unknown properties ignored, missing numbers are 0')
})

t.test('a poke reaches the receiver within 5 ms of send()', async (t) => {
  const rx = new Receiver()
  t.teardown(() => rx.close())
  const pusher = await connected(t, 'knative', rx)
  const latencies: number[] = []
  for (let i = 0; i < 15; i++) {
    const next = rx.next()
    const sentAt = performance.now()
    pusher.send([msg(`cold-${i}`)])
    const frame = await next
    latencies.push(frame.at - sentAt)
  }
  latencies.sort((a, b) => a - b)
  const median = latencies[Math.floor(latencies.length / 2)]
  t.comment(`poke latency ms: min ${latencies[0].toFixed(3)} median ${median.toFixed(3)} max ${latencies[latencies.length - 1].toFixed(3)}`)
  t.ok(median < 5, `median ${median.toFixed(3)} ms < 5 ms`)
})

t.test('while the autoscaler is down: latest stat per revision, bounded; reconnects and flushes within 1 s of restart', async (t) => {
  // The pusher's timers (reconnect backoff, liveness) run on fake time; sockets stay real.
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const rx = new Receiver()
  const port = await rx.ready()
  const pusher = await connected(t, 'knative', rx, { maxPendingRevisions: 50, clock, timers })
  await rx.close()
  await until(() => !pusher.connected, 2000)

  // 5 s down, sending a report every 20 ms for 200 revisions (4x the map's bound).
  const heapBefore = process.memoryUsage().heapUsed
  let maxPending = 0
  const downStartMs = clock.nowMs()
  let round = 0
  while (clock.nowMs() - downStartMs < 5000) {
    const batch: WireStatMessage[] = []
    for (let i = 0; i < 200; i++) batch.push(msg(`rev-${(round * 7 + i) % 1000}`, { averageConcurrentRequests: round }))
    pusher.send(batch)
    maxPending = Math.max(maxPending, pusher.pendingSize)
    round++
    await timers.advance(20)
    await new Promise((resolve) => { setImmediate(resolve) }) // lets a reconnect attempt fail
  }
  t.ok(maxPending <= 50, `held revisions stay bounded (max ${maxPending})`)
  t.ok(pusher.counters.revisionsDropped > 0, 'oldest revisions evicted')
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore
  t.ok(heapGrowth < 20 * 1024 * 1024, `heap growth ${Math.round(heapGrowth / 1024)} KiB while down`)

  const rx2 = new Receiver(port)
  t.teardown(() => rx2.close())
  await rx2.ready()
  // Fake time moves only while the pusher waits on its backoff timer, never while a connection
  // attempt is under way on real sockets (its handshake timeout is on the same fake timers), so
  // the measured delay is the backoff's.
  const restartedAtMs = clock.nowMs()
  while (rx2.frames.length === 0 && clock.nowMs() - restartedAtMs < 1500) {
    if (!pusher.connected && pusher.isWaitingToReconnect) await timers.advance(10)
    else await new Promise((resolve) => { setTimeout(resolve, 1) })
  }
  const resumeMs = clock.nowMs() - restartedAtMs
  t.ok(resumeMs < 1000, `held stats arrive ${resumeMs.toFixed(0)} ms after restart`)
  const flushed = rx2.frames[0] ?? await rx2.next(1500)
  const decoded = PbWireStatMessages.toObject(PbWireStatMessages.decode(flushed.data), { defaults: true }) as { messages: Array<{ stat: { averageConcurrentRequests: number } }> }
  t.equal(decoded.messages.length, 50, 'one batch with the held revisions')
  t.equal(decoded.messages[decoded.messages.length - 1].stat.averageConcurrentRequests, round - 1, 'newest values')
  t.equal(pusher.pendingSize, 0)
  // Periodic sends resume on the new connection.
  const next = rx2.next()
  pusher.send([msg('after')])
  await next
  t.equal(pusher.counters.connects, 2)
})

t.test('a peer that stops answering pings is dropped and reconnected', async (t) => {
  const rx = new Receiver(0, false)
  t.teardown(() => rx.close())
  const pusher = await connected(t, 'json', rx, { pingIntervalMs: 40, deadPeerMs: 150 })
  await until(() => pusher.counters.connects >= 2, 3000)
  t.pass(`reconnected after a silent peer (connects ${pusher.counters.connects})`)
})

t.test('send() before start, after close, and to an unreachable URL never throws', async (t) => {
  const pusher = new StatPusher({ url: 'ws://127.0.0.1:1/', protocol: 'knative' })
  pusher.send([msg('a')])
  t.equal(pusher.pendingSize, 1)
  pusher.start()
  pusher.send([msg('b')])
  await pusher.close()
  pusher.send([msg('c')])
  t.equal(pusher.pendingSize, 0)
  const bad = new StatPusher({ url: 'not a url', protocol: 'json' })
  t.doesNotThrow(() => { bad.start(); bad.send([msg('x')]) })
  await bad.close()
})

t.test('backoff grows by 1.3 with up to 50% jitter and caps', async (t) => {
  const low = new ReconnectBackoff(undefined, () => 0)
  t.same([low.next(), low.next(), low.next()].map((x) => Math.round(x)), [100, 130, 169])
  for (let i = 0; i < 20; i++) low.next()
  t.equal(low.next(), 400, 'capped')
  const high = new ReconnectBackoff(undefined, () => 0.999999)
  t.ok(Math.abs(high.next() - 150) < 0.01, 'jitter up to +50%')
  low.reset()
  t.equal(low.next(), 100, 'reset after a connection')
})

/** A logger that keeps each line's level, message and err code. */
function captureLogger (lines: Array<{ level: string, msg: string, code: string | null }>): Logger {
  const at = (level: string) => (obj: unknown, msg?: string): void => {
    const err = typeof obj === 'object' && obj !== null && 'err' in obj ? obj.err : null
    lines.push({ level, msg: msg ?? '', code: typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : null })
  }
  const logger: Logger = {
    level: 'debug', isLevelEnabled: () => true, child: () => logger,
    trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal'),
  }
  return logger
}

t.test('every way the websocket fails is logged with its code, the pusher reconnects, and nothing is left behind', async (t) => {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  // One misbehaviour per connection, then a server that answers right.
  const script: ReadonlyArray<(c: RawConnection) => void> = [
    (c) => { c.socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n') },
    (c) => { c.socket.write(c.ok101().replace(/Sec-WebSocket-Accept: .*\r\n/, 'Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n')) },
    () => { /* no answer: the handshake timeout */ },
    (c) => { c.socket.write(c.ok101()); c.socket.write(serverFrame(2, 'x', { mask: Buffer.from([1, 2, 3, 4]) })) },
    (c) => { c.socket.write(c.ok101()); c.socket.end(serverFrame(2, Buffer.alloc(10)).subarray(0, 4)) },
    (c) => { c.socket.write(c.ok101()) },
  ]
  const server = new RawServer((c) => { script[server.connections.length - 1]?.(c) })
  const port = await server.listen(t)
  const lines: Array<{ level: string, msg: string, code: string | null }> = []
  const pusher = new StatPusher({ url: `ws://127.0.0.1:${port}/`, protocol: 'knative', clock, timers, logger: captureLogger(lines) })
  pusher.start()
  pusher.send([msg('held')])
  const end = performance.now() + 10_000
  while (!(server.connections.length === script.length && pusher.connected)) {
    if (performance.now() > end) throw new Error(`stuck after ${server.connections.length} connections (open ${server.openSockets}, timers ${timers.size}, waiting ${pusher.isWaitingToReconnect}, ${JSON.stringify(lines)})`)
    // Fake time moves while the pusher waits out its backoff, or while the third server keeps
    // silent (so its handshake times out); real time runs the sockets in between.
    if (pusher.isWaitingToReconnect) await timers.advance(500)
    else if (server.connections.length === 3 && server.connections[2].socket.bytesWritten === 0 && !server.connections[2].socket.destroyed) await timers.advance(HANDSHAKE_TIMEOUT_MS)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  const failures = lines.filter((l) => l.level === 'warn' || l.msg === 'autoscaler connection attempt failed').map((l) => l.code)
  t.same(failures, [
    'SLUICE_ERR_WEBSOCKET_HANDSHAKE', 'SLUICE_ERR_WEBSOCKET_HANDSHAKE', 'SLUICE_ERR_WEBSOCKET_HANDSHAKE_TIMEOUT',
    'SLUICE_ERR_WEBSOCKET_PROTOCOL', 'SLUICE_ERR_WEBSOCKET_CONNECTION',
  ], 'each failure with its code, in order')
  t.same(lines.filter((l) => l.level === 'warn').map((l) => l.msg), ['cannot reach autoscaler; retrying', 'disconnected from autoscaler; reconnecting', 'disconnected from autoscaler; reconnecting'], 'a warning on each change of state only')
  t.equal(pusher.counters.connects, 3, 'three connections opened (masked frame, mid-frame end, the good one)')
  const good = server.connections[script.length - 1]
  pusher.send([msg('after')])
  await until(() => decodeClientFrames(Buffer.concat(good.received)).length === 1, 2000)
  const [frame] = decodeClientFrames(Buffer.concat(good.received))
  const decoded = PbWireStatMessages.toObject(PbWireStatMessages.decode(frame.payload)) as { messages: Array<{ name: string }> }
  t.same([frame.opcode, decoded.messages.map((m) => m.name)], [2, ['after']], 'stats flow on the good connection')
  await until(() => server.openSockets === 1, 2000)
  t.equal(timers.size, 1, 'only the liveness timer runs')
  const closing = pusher.close()
  await timers.advance(CLOSE_TIMEOUT_MS) // the raw server never answers the close frame
  await closing
  await until(() => server.openSockets === 0, 2000)
  t.equal(timers.size, 0, 'no timer after close()')
})

t.test('wss:// autoscaler: TLS with the CA given to the pusher (Node\'s store otherwise), frames arrive', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pusher-wss-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const pair = makePair(dir, 'autoscaler')
  const https = createHttpsServer({ cert: pair.cert, key: pair.key })
  await new Promise<void>((resolve) => { https.listen(0, '127.0.0.1', resolve) })
  const wss = new WebSocketServer({ server: https })
  const frames: Buffer[] = []
  wss.on('connection', (ws) => { ws.on('message', (data: RawData) => { frames.push(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)) }) })
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close(); https.close() })
  const port = (https.address() as AddressInfo).port
  const pusher = new StatPusher({ url: `wss://localhost:${port}/`, protocol: 'knative', tls: { ca: pair.cert } })
  t.teardown(() => pusher.close())
  pusher.start()
  await until(() => pusher.connected, 3000)
  pusher.send([msg('over-tls')])
  await until(() => frames.length === 1, 2000)
  const decoded = PbWireStatMessages.toObject(PbWireStatMessages.decode(frames[0])) as { messages: Array<{ name: string }> }
  t.same(decoded.messages.map((m) => m.name), ['over-tls'])
})
