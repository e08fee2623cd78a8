import t, { type Test } from 'tap'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { WebSocketClient, WS_CLOSED, WS_OPEN, type WebSocketClientOptions } from '../../src/websocket/websocket-client.ts'
import { decodeClientFrames, EventRecorder, RawServer, serverFrame, until, type RawConnection } from '../helpers/websocket-fixtures.ts'

// Servers that answer wrong, over raw sockets: each failure is one close event with a coded
// error, the client's close frame (when it sends one) carries the right code, the server-side
// socket is closed and no timer is left (the client's timers are fake, so a pending one shows).

interface Run { client: WebSocketClient, events: EventRecorder, timers: ManualTimers, server: RawServer }

async function run (t: { teardown (fn: () => unknown): void }, onRequest: (c: RawConnection) => void, options: WebSocketClientOptions = {}): Promise<Run> {
  const server = new RawServer(onRequest)
  const port = await server.listen(t)
  const timers = new ManualTimers(new ManualClock())
  const events = new EventRecorder()
  const client = new WebSocketClient(`ws://127.0.0.1:${port}/`, events, { timers, ...options })
  t.teardown(() => { client.terminate() })
  client.connect()
  return { client, events, timers, server }
}

/** The client's frames as the server received them. */
function clientFrames (c: RawConnection): ReturnType<typeof decodeClientFrames> {
  return decodeClientFrames(Buffer.concat(c.received))
}

/** The client is closed, told once, with no timer left; `serverSide`: the server's socket is closed too. */
async function closedCleanly (t: Test, r: Run, serverSide = true): Promise<void> {
  if (serverSide) await until(() => r.server.openSockets === 0)
  t.equal(r.events.count('close'), 1, 'one close event')
  t.equal(r.timers.size, 0, 'no timer left')
  t.equal(r.client.readyState, WS_CLOSED)
}

const HANDSHAKE_FAILURES: ReadonlyArray<[string, (c: RawConnection) => string, RegExp, number]> = [
  ['404', () => 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n', /server answered 404 Not Found instead of 101/, 404],
  ['503', () => 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy!', /server answered 503 Service Unavailable instead of 101/, 503],
  ['HTTP/1.0 answer', () => 'HTTP/1.0 400 Bad Request\r\n\r\n', /server answered 400 Bad Request/, 400],
  ['wrong accept', (c) => c.ok101().replace(/Sec-WebSocket-Accept: .*\r\n/, 'Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n'), /wrong Sec-WebSocket-Accept/, 101],
  ['no accept', (c) => c.ok101().replace(/Sec-WebSocket-Accept: .*\r\n/, ''), /no Sec-WebSocket-Accept/, 101],
  ['two accepts', (c) => c.ok101('Sec-WebSocket-Accept: x\r\n'), /two Sec-WebSocket-Accept/, 101],
  ['no Upgrade', (c) => c.ok101().replace('Upgrade: websocket\r\n', ''), /Upgrade is "", not websocket/, 101],
  ['Connection without upgrade', (c) => c.ok101().replace('Connection: Upgrade', 'Connection: keep-alive'), /without upgrade/, 101],
  ['an extension not offered', (c) => c.ok101('Sec-WebSocket-Extensions: permessage-deflate\r\n'), /extension "permessage-deflate", which was not offered/, 101],
  ['a subprotocol not offered', (c) => c.ok101('Sec-WebSocket-Protocol: chat\r\n'), /subprotocol "chat", which was not offered/, 101],
  ['garbage', () => 'SSH-2.0-OpenSSH_9.6\r\n\r\n', /not HTTP\/1\.x/, 0],
  ['a malformed field line', (c) => c.ok101('no colon here\r\n'), /malformed field line/, 101],
  ['a head over 16 KiB', () => 'HTTP/1.1 101 Switching Protocols\r\n' + 'X-Pad: y\r\n'.repeat(2000), /over 16384 bytes/, 0],
]

for (const [name, answer, message, status] of HANDSHAKE_FAILURES) {
  t.test(`handshake answered with ${name}: SLUICE_ERR_WEBSOCKET_HANDSHAKE, the socket closed`, async (t) => {
    const r = await run(t, (c) => { c.socket.write(answer(c)) })
    const closed = await r.events.next('close')
    t.equal(closed.error?.code, 'SLUICE_ERR_WEBSOCKET_HANDSHAKE')
    t.match(closed.error?.message, message)
    t.equal((closed.error as { responseStatus?: number } | null)?.responseStatus, status, 'the answer\'s status')
    t.equal(closed.code, 1006)
    t.equal(r.events.count('open'), 0, 'never opened')
    await closedCleanly(t, r)
  })
}

t.test('the request the server sees: RFC 6455 4.1, a fresh 16-byte key each time', async (t) => {
  const server = new RawServer((c) => { c.socket.write(c.ok101()) })
  const port = await server.listen(t)
  const keys: string[] = []
  for (let i = 0; i < 2; i++) {
    const events = new EventRecorder()
    const client = new WebSocketClient(`ws://127.0.0.1:${port}/a/b?c=d`, events)
    t.teardown(() => { client.terminate() })
    client.connect()
    await events.next('open')
    const head = server.connections[i].head
    t.match(head, new RegExp(`^GET /a/b\\?c=d HTTP/1\\.1\r\nHost: 127\\.0\\.0\\.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: [A-Za-z0-9+/]{22}==\r\nSec-WebSocket-Version: 13\r\n\r\n$`))
    keys.push(server.connections[i].key)
    t.equal(Buffer.from(server.connections[i].key, 'base64').length, 16, '16 bytes of key')
  }
  t.not(keys[0], keys[1], 'a new key per connection')
})

t.test('no answer: handshake timeout on the injected timers, then the socket is closed', async (t) => {
  const r = await run(t, () => {}, { handshakeTimeoutMs: 3000 })
  await r.server.nextConnection()
  await r.timers.advance(2999)
  t.equal(r.events.count('close'), 0, 'still waiting at 2999 ms')
  await r.timers.advance(1)
  const closed = await r.events.next('close')
  t.equal(closed.error?.code, 'SLUICE_ERR_WEBSOCKET_HANDSHAKE_TIMEOUT')
  t.match(closed.error?.message, /within 3000 ms/)
  await closedCleanly(t, r)
})

t.test('the server closes before answering, or after part of the head', async (t) => {
  for (const partial of ['', 'HTTP/1.1 101 Switching']) {
    const r = await run(t, (c) => { c.socket.end(partial) })
    const closed = await r.events.next('close')
    t.equal(closed.error?.code, 'SLUICE_ERR_WEBSOCKET_CONNECTION')
    t.match(closed.error?.message, /before the handshake answer/)
    await closedCleanly(t, r)
  }
})

t.test('connection refused: SLUICE_ERR_WEBSOCKET_CONNECTION naming ECONNREFUSED, with the cause', async (t) => {
  const server = new RawServer(() => {})
  const port = await server.listen(t)
  await server.close()
  const events = new EventRecorder()
  const timers = new ManualTimers(new ManualClock())
  const client = new WebSocketClient(`ws://127.0.0.1:${port}/`, events, { timers })
  client.connect()
  const closed = await events.next('close')
  t.equal(closed.error?.code, 'SLUICE_ERR_WEBSOCKET_CONNECTION')
  t.match(closed.error?.message, /ECONNREFUSED/)
  t.ok(closed.error?.cause instanceof Error, 'the socket error is the cause')
  t.equal(timers.size, 0, 'the handshake timer is cancelled')
})

// What the server sends after a valid 101, and the close code the client must answer with.
const FRAME_FAILURES: ReadonlyArray<[string, Buffer, RegExp, number]> = [
  ['a masked frame', serverFrame(2, 'hi', { mask: Buffer.from([1, 2, 3, 4]) }), /masked frame/, 1002],
  ['RSV1 set (no extension negotiated)', serverFrame(2, 'hi', { rsv: 4 }), /reserved bits/, 1002],
  ['reserved data opcode 0x3', serverFrame(3, 'hi'), /reserved opcode 0x3/, 1002],
  ['reserved control opcode 0xb', serverFrame(0xb, ''), /reserved opcode 0xb/, 1002],
  ['a ping over 125 bytes', serverFrame(9, Buffer.alloc(126)), /control frame over 125/, 1002],
  ['a fragmented ping', serverFrame(9, 'x', { fin: false }), /fragmented control frame/, 1002],
  ['a continuation with no message', serverFrame(0, 'x'), /continuation frame without a message/, 1002],
  ['a new message inside a fragmented one', Buffer.concat([serverFrame(2, 'a', { fin: false }), serverFrame(1, 'b')]), /new data frame inside/, 1002],
  ['a 64-bit length with its top bit set', Buffer.from([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]), /most significant bit/, 1002],
  ['text that is not UTF-8', serverFrame(1, Buffer.from([0xc3, 0x28])), /not UTF-8/, 1007],
  ['fragmented text that is not UTF-8 as a whole', Buffer.concat([serverFrame(1, Buffer.from([0xe2, 0x82]), { fin: false }), serverFrame(0, Buffer.from([0x28]))]), /not UTF-8/, 1007],
  ['a close frame with a 1-byte payload', serverFrame(8, Buffer.from([3])), /1-byte payload/, 1002],
  ['a close frame with code 1005', serverFrame(8, Buffer.from([0x03, 0xed])), /code 1005, which may not be sent/, 1002],
  ['a close reason that is not UTF-8', serverFrame(8, Buffer.from([0x03, 0xe8, 0xff])), /close reason is not UTF-8/, 1007],
  ['an oversize frame (header says 2 MiB, limit 1 MiB)', serverFrame(2, Buffer.alloc(0), { length: 2 * 1024 * 1024 }), /over 1048576 bytes/, 1009],
]

for (const [name, frame, message, closeCode] of FRAME_FAILURES) {
  t.test(`after the 101, ${name}: the client closes with ${closeCode}`, async (t) => {
    const r = await run(t, (c) => { c.socket.write(c.ok101()); c.socket.write(frame) }, { maxMessageBytes: 1024 * 1024 })
    const closed = await r.events.next('close')
    t.equal(closed.code, closeCode, 'the close event has the code sent')
    t.equal(closed.error?.code, closeCode === 1009 ? 'SLUICE_ERR_WEBSOCKET_MESSAGE_TOO_LARGE' : 'SLUICE_ERR_WEBSOCKET_PROTOCOL')
    t.match(closed.error?.message, message)
    t.equal(r.events.count('message'), 0, 'nothing delivered')
    const conn = r.server.connections[0]
    await conn.closed
    const frames = clientFrames(conn)
    t.equal(frames.length, 1, 'one frame from the client')
    t.same([frames[0]?.opcode, frames[0]?.masked, frames[0]?.payload.readUInt16BE(0)], [8, true, closeCode], `a masked close frame with ${closeCode}`)
    await closedCleanly(t, r)
  })
}

t.test('the connection ends mid-frame, or between frames without a close frame: 1006 and a coded error', async (t) => {
  for (const [tail, message] of [
    [serverFrame(2, Buffer.alloc(10)).subarray(0, 5), /mid-frame/],
    [Buffer.from([0x82]), /mid-frame/],
    [serverFrame(2, 'x', { fin: false }), /mid-frame/],
    [serverFrame(2, 'whole'), /without a close frame/],
  ] as const) {
    const r = await run(t, (c) => { c.socket.write(c.ok101()); c.socket.end(tail) })
    const closed = await r.events.next('close')
    t.same([closed.code, closed.error?.code], [1006, 'SLUICE_ERR_WEBSOCKET_CONNECTION'])
    t.match(closed.error?.message, message)
    await closedCleanly(t, r)
  }
})

t.test('frames in the same packet as the 101, and split byte by byte, are read', async (t) => {
  const frames = Buffer.concat([serverFrame(1, 'first'), serverFrame(2, Buffer.alloc(300, 9)), serverFrame(9, 'p'), serverFrame(2, Buffer.alloc(70_000, 3))])
  const r = await run(t, (c) => {
    c.socket.write(c.ok101() + frames.subarray(0, 3).toString('latin1'), 'latin1')
    let i = 3
    const drip = (): void => {
      if (i >= frames.length) return
      const n = i < 400 ? 1 : 8192
      c.socket.write(frames.subarray(i, i + n))
      i += n
      setImmediate(drip)
    }
    drip()
  })
  await until(() => r.events.count('message') === 3)
  const messages = r.events.events.filter((e) => e.kind === 'message')
  t.ok(messages[0].kind === 'message' && messages[0].data.toString() === 'first' && !messages[0].isBinary)
  t.ok(messages[1].kind === 'message' && messages[1].data.equals(Buffer.alloc(300, 9)))
  t.ok(messages[2].kind === 'message' && messages[2].data.equals(Buffer.alloc(70_000, 3)))
  const conn = r.server.connections[0]
  await until(() => clientFrames(conn).length === 1)
  t.same([clientFrames(conn)[0].opcode, clientFrames(conn)[0].payload.toString()], [0xa, 'p'], 'the ping answered with a pong')
})

t.test('client frames are masked, each with its own key', async (t) => {
  const r = await run(t, (c) => { c.socket.write(c.ok101()) })
  await r.events.next('open')
  for (let i = 0; i < 20; i++) r.client.send(Buffer.from(`stat ${i}`))
  r.client.send('text')
  r.client.ping(Buffer.from('p'))
  const conn = r.server.connections[0]
  await until(() => clientFrames(conn).length === 22)
  const frames = clientFrames(conn)
  t.ok(frames.every((f) => f.masked && f.fin), 'every frame masked and final')
  t.equal(new Set(frames.map((f) => f.mask.toString('hex'))).size, 22, '22 different masks')
  t.same(frames.slice(0, 20).map((f) => [f.opcode, f.payload.toString()]), Array.from({ length: 20 }, (_, i) => [2, `stat ${i}`]))
  t.same([frames[20].opcode, frames[20].payload.toString(), frames[21].opcode], [1, 'text', 9])
})

t.test('close with a peer that never answers: destroyed after the close timeout', async (t) => {
  const r = await run(t, (c) => { c.socket.write(c.ok101()) }, { closeTimeoutMs: 1000 })
  await r.events.next('open')
  r.client.close(1001, 'going away')
  const conn = r.server.connections[0]
  await until(() => clientFrames(conn).length === 1)
  t.same([clientFrames(conn)[0].opcode, clientFrames(conn)[0].payload.readUInt16BE(0), clientFrames(conn)[0].payload.subarray(2).toString()], [8, 1001, 'going away'])
  await r.timers.advance(999)
  t.equal(r.events.count('close'), 0, 'waiting for the answer')
  await r.timers.advance(1)
  const closed = await r.events.next('close')
  t.same([closed.code, closed.error?.code], [1006, 'SLUICE_ERR_WEBSOCKET_CONNECTION'])
  t.match(closed.error?.message, /no close frame from the peer within 1000 ms/)
  await closedCleanly(t, r)
})

t.test('the peer answers the close but keeps TCP open: the client ends it after the close timeout at most', async (t) => {
  const r = await run(t, (c) => {
    c.socket.write(c.ok101())
    c.socket.on('data', () => { if (clientFrames(c).some((f) => f.opcode === 8)) c.socket.write(serverFrame(8, Buffer.from([0x03, 0xe9]))) })
  }, { closeTimeoutMs: 1000 })
  r.server.server.on('connection', (s) => { s.allowHalfOpen = true })
  await r.events.next('open')
  r.client.close(1001)
  const conn = r.server.connections[0]
  await until(() => clientFrames(conn).length === 1)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(r.events.count('close'), 0, 'the server keeps its side open')
  await r.timers.advance(1000)
  const closed = await r.events.next('close')
  t.same([closed.code, closed.error], [1001, null], 'the close handshake completed: no error')
  await closedCleanly(t, r, false)
})

t.test('a ping after the client sent its close is not answered; data after the peer\'s close is ignored', async (t) => {
  const r = await run(t, (c) => {
    c.socket.write(c.ok101())
    c.socket.on('data', () => {
      if (!clientFrames(c).some((f) => f.opcode === 8)) return
      c.socket.end(Buffer.concat([serverFrame(9, 'late ping'), serverFrame(8, Buffer.from([0x0f, 0xa0])), serverFrame(2, 'after close')]))
    })
  })
  await r.events.next('open')
  r.client.close(4000)
  const closed = await r.events.next('close')
  t.same([closed.code, closed.error], [4000, null])
  t.equal(r.events.count('message'), 0)
  t.same(clientFrames(r.server.connections[0]).map((f) => f.opcode), [8], 'only the close frame was sent')
  await closedCleanly(t, r)
})

t.test('bufferedAmount grows while the peer does not read, and send() refuses once closing', async (t) => {
  const r = await run(t, (c) => { c.socket.write(c.ok101()); c.socket.pause() })
  await r.events.next('open')
  t.equal(r.client.readyState, WS_OPEN)
  const chunk = Buffer.alloc(1024 * 1024)
  for (let i = 0; i < 32; i++) r.client.send(chunk)
  t.ok(r.client.bufferedAmount > 8 * 1024 * 1024, `bufferedAmount ${r.client.bufferedAmount} over 8 MiB with 32 MiB written to a stalled peer`)
  r.client.terminate()
  t.equal(r.client.send(chunk), false)
  await r.events.next('close')
  r.server.connections[0].socket.resume()
  await closedCleanly(t, r)
})

t.test('close() or terminate() before the 101: the connection is aborted with a coded error', async (t) => {
  for (const end of ['close', 'terminate'] as const) {
    const r = await run(t, () => {})
    await r.server.nextConnection()
    if (end === 'close') r.client.close()
    else r.client.terminate()
    const closed = await r.events.next('close')
    t.same([closed.code, closed.error?.code], [1006, 'SLUICE_ERR_WEBSOCKET_CONNECTION'], end)
    t.match(closed.error?.message, /before the handshake completed/)
    await closedCleanly(t, r)
  }
})
