import { mkdtempSync, rmSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import { WebSocketClient, WS_CLOSED, WS_CONNECTING, WS_OPEN, type WebSocketClientOptions } from '../../src/websocket/websocket-client.ts'
import { makePair, SKIP_WITHOUT_OPENSSL } from '../helpers/test-certs.ts'
import { EventRecorder, until } from '../helpers/websocket-fixtures.ts'

// The normal paths against `ws`'s server, the reference implementation in Node: what the
// activator's stat pusher does with its websocket, both directions, and the edges of framing
// (fragments, 16- and 64-bit lengths, control frames between fragments).

interface Received { data: Buffer, isBinary: boolean }

/** A ws server on 127.0.0.1:0 that records what each connection receives. */
async function wsServer (t: { teardown (fn: () => unknown): void }, options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<{ wss: WebSocketServer, port: number, peer: () => Promise<WebSocket>, received: Received[] }> {
  const wss = new WebSocketServer(options.server === undefined ? { host: '127.0.0.1', port: 0, ...options } : options)
  const received: Received[] = []
  const peers: WebSocket[] = []
  let waiting: ((ws: WebSocket) => void) | null = null
  wss.on('connection', (ws) => {
    ws.on('message', (data: RawData, isBinary: boolean) => {
      received.push({ data: Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data), isBinary })
    })
    if (waiting !== null) { waiting(ws); waiting = null } else peers.push(ws)
  })
  if (options.server === undefined) await new Promise((resolve) => { wss.once('listening', resolve) })
  t.teardown(() => new Promise<void>((resolve) => { for (const c of wss.clients) c.terminate(); wss.close(() => { resolve() }) }))
  const address = (options.server?.address() ?? wss.address()) as AddressInfo
  return {
    wss,
    port: address.port,
    received,
    peer: () => new Promise((resolve) => { const p = peers.shift(); if (p !== undefined) resolve(p); else waiting = resolve }),
  }
}

async function open (t: { teardown (fn: () => unknown): void }, url: string, options: WebSocketClientOptions = {}): Promise<{ client: WebSocketClient, events: EventRecorder }> {
  const events = new EventRecorder()
  const client = new WebSocketClient(url, events, options)
  t.teardown(() => { client.terminate() })
  client.connect()
  await events.next('open')
  return { client, events }
}

t.test('opens, with path and query, Host, and no extension offered (the server offering one is not asked)', async (t) => {
  let request: { url: string, host: string, extensions: string | undefined, protocol: string | undefined, version: string | undefined } | null = null
  const server = await wsServer(t, { perMessageDeflate: true, handleProtocols: () => 'should-not-be-asked' })
  server.wss.on('headers', (_headers, req) => {
    request = { url: req.url ?? '', host: req.headers.host ?? '', extensions: req.headers['sec-websocket-extensions'], protocol: req.headers['sec-websocket-protocol'], version: req.headers['sec-websocket-version'] }
  })
  const events = new EventRecorder()
  const client = new WebSocketClient(`ws://127.0.0.1:${server.port}/stats/path?x=1`, events)
  t.equal(client.readyState, WS_CONNECTING)
  t.equal(client.bufferedAmount, 0, 'nothing buffered before the dial')
  client.connect()
  await events.next('open')
  t.equal(client.readyState, WS_OPEN)
  t.same(request, { url: '/stats/path?x=1', host: `127.0.0.1:${server.port}`, extensions: undefined, protocol: undefined, version: '13' }, 'the GET the server saw')
  client.close()
  const closed = await events.next('close')
  t.same([closed.code, closed.error], [1000, null])
  t.equal(client.readyState, WS_CLOSED)
})

t.test('binary and text messages both ways, empty ones too; 16- and 64-bit lengths', async (t) => {
  const server = await wsServer(t)
  const { client, events } = await open(t, `ws://127.0.0.1:${server.port}/`)
  const peer = await server.peer()
  const sizes = [0, 1, 125, 126, 65535, 65536, 300_000]
  for (const n of sizes) {
    t.ok(client.send(Buffer.alloc(n, n % 251)), `send ${n} binary`)
    t.ok(client.send('é'.repeat(n >> 1)), `send ${n >> 1} text chars`)
  }
  await until(() => server.received.length === sizes.length * 2)
  sizes.forEach((n, i) => {
    t.same([server.received[2 * i].isBinary, server.received[2 * i].data.equals(Buffer.alloc(n, n % 251))], [true, true], `server got ${n} binary bytes`)
    t.same([server.received[2 * i + 1].isBinary, server.received[2 * i + 1].data.toString('utf8') === 'é'.repeat(n >> 1)], [false, true], `server got ${n >> 1} text chars`)
  })
  for (const n of sizes) {
    peer.send(Buffer.alloc(n, 7), { binary: true })
    peer.send('ü'.repeat(n >> 1))
  }
  await until(() => events.count('message') === sizes.length * 2)
  const messages = events.events.filter((e) => e.kind === 'message')
  sizes.forEach((n, i) => {
    const bin = messages[2 * i]
    const text = messages[2 * i + 1]
    t.ok(bin.kind === 'message' && bin.isBinary && bin.data.equals(Buffer.alloc(n, 7)), `client got ${n} binary bytes`)
    t.ok(text.kind === 'message' && !text.isBinary && text.data.toString('utf8') === 'ü'.repeat(n >> 1), `client got ${n >> 1} text chars`)
  })
})

t.test('large messages both ways: 8 MiB', async (t) => {
  const server = await wsServer(t, { maxPayload: 64 * 1024 * 1024 })
  const { client, events } = await open(t, `ws://127.0.0.1:${server.port}/`)
  const peer = await server.peer()
  const big = Buffer.alloc(8 * 1024 * 1024)
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i)
  client.send(big)
  t.ok(client.bufferedAmount > 0, `bufferedAmount ${client.bufferedAmount} while 8 MiB is written`)
  await until(() => server.received.length === 1, 10_000)
  t.ok(server.received[0].data.equals(big), 'the server got the 8 MiB intact')
  await until(() => client.bufferedAmount === 0)
  peer.send(big)
  const got = await events.next('message')
  t.ok(got.data.equals(big), 'the client got the 8 MiB intact')
})

t.test('fragmented server messages, with pings between the fragments', async (t) => {
  const server = await wsServer(t)
  const { events } = await open(t, `ws://127.0.0.1:${server.port}/`)
  const peer = await server.peer()
  const pongs: Buffer[] = []
  peer.on('pong', (data) => { pongs.push(data) })
  peer.send(Buffer.from('abc'), { binary: true, fin: false })
  peer.ping(Buffer.from('between'))
  peer.send(Buffer.from('def'), { binary: true, fin: false })
  peer.send(Buffer.alloc(70_000, 1), { binary: true, fin: true })
  peer.send('héllo ', { fin: false })
  peer.send('wörld', { fin: true })
  await until(() => events.count('message') === 2)
  const [bin, text] = events.events.filter((e) => e.kind === 'message')
  t.ok(bin.kind === 'message' && bin.isBinary && bin.data.equals(Buffer.concat([Buffer.from('abcdef'), Buffer.alloc(70_000, 1)])), 'binary fragments joined')
  t.ok(text.kind === 'message' && !text.isBinary && text.data.toString() === 'héllo wörld', 'text fragments joined')
  await until(() => pongs.length === 1)
  t.equal(pongs[0].toString(), 'between', 'the ping between fragments was answered with its payload')
})

t.test('ping and pong both ways', async (t) => {
  const server = await wsServer(t)
  const { client, events } = await open(t, `ws://127.0.0.1:${server.port}/`)
  const peer = await server.peer()
  const pings: Buffer[] = []
  peer.on('ping', (data) => { pings.push(data) })
  t.ok(client.ping(Buffer.from('are you there')))
  const pong = await events.next('pong')
  t.equal(pong.payload.toString(), 'are you there', 'the server\'s automatic pong carries the payload')
  t.equal(pings[0]?.toString(), 'are you there')
  t.ok(client.ping(), 'an empty ping')
  t.equal((await events.next('pong', events.events.indexOf(pong) + 1)).payload.length, 0)
  t.throws(() => client.ping(Buffer.alloc(126)), RangeError, 'a ping over 125 bytes is refused')

  const pongs: Buffer[] = []
  peer.on('pong', (data) => { pongs.push(data) })
  peer.ping(Buffer.from('server ping'))
  await until(() => pongs.length === 1)
  t.equal(pongs[0].toString(), 'server ping', 'the client answered the server\'s ping')
  peer.pong(Buffer.from('unsolicited'))
  await until(() => events.count('pong') === 3)
  t.equal((events.events.filter((e) => e.kind === 'pong')[2] as { payload: Buffer }).payload.toString(), 'unsolicited', 'an unsolicited pong is reported')
})

t.test('close started by the client: code and reason reach the server, its answer ends it cleanly', async (t) => {
  const server = await wsServer(t)
  const { client, events } = await open(t, `ws://127.0.0.1:${server.port}/`)
  const peer = await server.peer()
  const serverSaw = new Promise<[number, string]>((resolve) => { peer.once('close', (code, reason) => { resolve([code, reason.toString()]) }) })
  client.close(4001, 'activator shutting down')
  t.equal(client.send('late'), false, 'nothing is sent once closing')
  t.equal(client.ping(), false)
  t.same(await serverSaw, [4001, 'activator shutting down'])
  const closed = await events.next('close')
  t.same([closed.code, closed.reason, closed.error], [4001, 'activator shutting down', null], 'the server echoed the code and reason; no error')
  t.equal(client.readyState, WS_CLOSED)
  t.throws(() => { client.close(1006) }, RangeError, '1006 may not be sent')
  t.throws(() => { client.close(1000, 'x'.repeat(124)) }, RangeError, 'a reason over 123 bytes')
})

t.test('close started by the server: its code and reason, with or without a code', async (t) => {
  const server = await wsServer(t)
  for (const [code, reason, expected] of [[1012, 'Restarting', 1012], [4999, '', 4999], [undefined, undefined, 1005]] as const) {
    const { client, events } = await open(t, `ws://127.0.0.1:${server.port}/`)
    const peer = await server.peer()
    const serverSaw = new Promise<number>((resolve) => { peer.once('close', (c) => { resolve(c) }) })
    peer.close(code, reason)
    const closed = await events.next('close')
    t.same([closed.code, closed.reason, closed.error], [expected, reason ?? '', null], `server close ${code ?? '(no code)'}`)
    t.equal(await serverSaw, expected, 'the client echoed it')
    t.equal(client.readyState, WS_CLOSED)
  }
})

t.test('a message over maxMessageBytes: closed with 1009 and a coded error', async (t) => {
  const server = await wsServer(t)
  const { events } = await open(t, `ws://127.0.0.1:${server.port}/`, { maxMessageBytes: 1024 })
  const peer = await server.peer()
  const serverSaw = new Promise<number>((resolve) => { peer.once('close', (c) => { resolve(c) }) })
  peer.send(Buffer.alloc(1024))
  await events.next('message')
  peer.send(Buffer.alloc(600), { fin: false })
  peer.send(Buffer.alloc(600), { fin: true })
  const closed = await events.next('close')
  t.equal(closed.code, 1009)
  t.equal(closed.error?.code, 'SLUICE_ERR_WEBSOCKET_MESSAGE_TOO_LARGE', 'fragments count together')
  t.equal(await serverSaw, 1009, 'the server got close 1009')
})

t.test('terminate() ends the connection without a close frame: 1006, no error', async (t) => {
  const server = await wsServer(t)
  const { client, events } = await open(t, `ws://127.0.0.1:${server.port}/`)
  const peer = await server.peer()
  const serverSaw = new Promise<number>((resolve) => { peer.once('close', (c) => { resolve(c) }) })
  client.terminate()
  const closed = await events.next('close')
  t.same([closed.code, closed.error], [1006, null])
  t.equal(await serverSaw, 1006, 'the server saw an abnormal closure')
  t.equal(events.count('close'), 1)
})

t.test('wss:// with a private CA; an untrusted certificate is a coded connection error', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-wss-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const pair = makePair(dir, 'autoscaler')
  const https = createHttpsServer({ cert: pair.cert, key: pair.key })
  await new Promise<void>((resolve) => { https.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { https.closeAllConnections(); https.close() })
  const server = await wsServer(t, { server: https })
  const port = (https.address() as AddressInfo).port
  const { client, events } = await open(t, `wss://localhost:${port}/`, { tls: { ca: pair.cert } })
  client.send('over tls')
  await until(() => server.received.length === 1)
  t.equal(server.received[0].data.toString(), 'over tls')
  client.close()
  t.same((await events.next('close')).code, 1000)

  const untrusted = new EventRecorder()
  const bad = new WebSocketClient(`wss://localhost:${port}/`, untrusted)
  bad.connect()
  const failed = await untrusted.next('close')
  t.equal(failed.error?.code, 'SLUICE_ERR_WEBSOCKET_CONNECTION')
  t.match(failed.error?.message, /SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i, 'names the TLS failure')
  t.equal(untrusted.count('open'), 0)
})

t.test('URLs that are not ws:// or wss:// throw a coded error at construction', async (t) => {
  const events = new EventRecorder()
  for (const url of ['http://127.0.0.1/', 'not a url', 'ws://127.0.0.1/#frag', 'ws://']) {
    t.throws(() => new WebSocketClient(url, events), { code: 'SLUICE_ERR_WEBSOCKET_URL' }, url)
  }
  t.equal(events.events.length, 0)
})
