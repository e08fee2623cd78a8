import { createHash, randomBytes } from 'node:crypto'
import { createServer as createHttpServer } from 'node:http'
import { connect, createServer as createNetServer, Socket, type AddressInfo } from 'node:net'
import { TLSSocket } from 'node:tls'
import t from 'tap'
import { WebSocket, WebSocketServer } from 'ws'
import { H1Server, type H1Listener } from '../../src/server/h1-server.ts'
import type { H1ServerConnection } from '../../src/server/h1-server-connection.ts'
import { readIntoSharedBuffer, sharedReadsAvailable } from '../../src/server/shared-read-buffer.ts'
import { silentLogger } from '../../src/shared/logger.ts'

// Every plain connection of H1Server reads into one process-wide buffer. These tests make the
// bytes kept past a read (bodies held by a slow handler, pipelined requests, heads split across
// reads) meet the reads of many other connections, and check that nothing kept was overwritten.

interface Teardown { teardown (fn: () => unknown): void }

async function startServer (t: Teardown, listener: H1Listener): Promise<{ port: number, conns: H1ServerConnection[], fallback: ReturnType<typeof createHttpServer> }> {
  const fallback = createHttpServer()
  const h1 = new H1Server({ keepAliveTimeoutMs: 5000, headersTimeoutMs: 5000, maxHeadBytes: 16 * 1024, fallback, logger: silentLogger() }, listener)
  const conns: H1ServerConnection[] = []
  const sockets = new Set<Socket>()
  const server = createNetServer({ noDelay: true }, (socket) => {
    sockets.add(socket)
    socket.on('close', () => { sockets.delete(socket) })
    conns.push(h1.accept(socket, null))
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => {
    h1.closeAllConnections()
    h1.close()
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  })
  return { port: (server.address() as AddressInfo).port, conns, fallback }
}

/** Answers each request, after a delay, with the sha256 of its body: the body chunks are held until then. */
const slowHashListener: H1Listener = (req, res) => {
  const kept: Buffer[] = []
  const answer = (): void => {
    setTimeout(() => {
      const digest = createHash('sha256').update(Buffer.concat(kept)).digest('hex')
      res.writeHead(200, ['content-type', 'text/plain'])
      res.end(Buffer.from(`${req.method} ${req.url} ${digest}`))
    }, 1 + Math.floor(Math.random() * 5))
  }
  const body = req.body
  if (body === null) { answer(); return }
  body.on('data', (c: Buffer) => { kept.push(c) })
  body.on('end', answer)
}

function sha256 (b: Buffer): string { return createHash('sha256').update(b).digest('hex') }

/** One request's bytes: content-length or chunked (random chunk sizes), with its body. */
function requestBytes (path: string, body: Buffer, chunked: boolean): Buffer {
  if (!chunked) return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n`), body])
  const parts: Buffer[] = [Buffer.from(`POST ${path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n`)]
  for (let off = 0; off < body.length;) {
    const n = Math.min(body.length - off, 1 + Math.floor(Math.random() * 3000))
    parts.push(Buffer.from(n.toString(16) + '\r\n'), body.subarray(off, off + n), Buffer.from('\r\n'))
    off += n
  }
  parts.push(Buffer.from('0\r\n\r\n'))
  return Buffer.concat(parts)
}

/** Writes `bytes` in random fragments, each its own write, a macrotask apart. */
async function writeFragmented (socket: Socket, bytes: Buffer): Promise<void> {
  for (let off = 0; off < bytes.length;) {
    const n = Math.min(bytes.length - off, 1 + Math.floor(Math.random() * 4000))
    socket.write(bytes.subarray(off, off + n))
    off += n
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** Reads `count` responses (content-length framed) and returns their bodies. */
function readResponses (socket: Socket, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    const bodies: string[] = []
    const timer = setTimeout(() => { reject(new Error(`only ${bodies.length} of ${count} responses`)) }, 15_000)
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.subarray(0, end).toString('latin1')
        const m = /content-length: (\d+)/i.exec(head)
        const len = m === null ? 0 : Number(m[1])
        if (buf.length < end + 4 + len) return
        bodies.push(buf.subarray(end + 4, end + 4 + len).toString('latin1'))
        buf = buf.subarray(end + 4 + len)
        if (bodies.length === count) { clearTimeout(timer); resolve(bodies) }
      }
    })
    socket.on('error', reject)
  })
}

t.test('this Node offers shared reads, and plain connections use them', async (t) => {
  t.ok(sharedReadsAvailable, 'Node 24 has the onread symbols and useUserBuffer')
  const { port, conns } = await startServer(t, (_req, res) => { res.end(Buffer.from('ok')) })
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  const got = readResponses(socket, 1)
  socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n')
  t.same(await got, ['ok'])
  t.equal(conns.length, 1)
  t.equal(conns[0]?.readsShared, true, 'the connection reads into the shared buffer')
})

t.test('bodies held by slow handlers on 16 connections, pipelined and fragmented, arrive intact', async (t) => {
  const { port } = await startServer(t, slowHashListener)
  const clients = 16
  const perClient = 12
  const runs: Array<Promise<void>> = []
  for (let c = 0; c < clients; c++) {
    runs.push((async () => {
      const socket = connect(port, '127.0.0.1')
      socket.setNoDelay(true)
      t.teardown(() => { socket.destroy() })
      await new Promise<void>((resolve) => { socket.once('connect', resolve) })
      const expected: string[] = []
      const wire: Buffer[] = []
      for (let i = 0; i < perClient; i++) {
        // 0 B to ~100 KB: bodies inside one read, across several, and larger than the shared buffer.
        const size = i % 4 === 0 ? 0 : Math.floor(Math.random() * (i % 3 === 0 ? 100_000 : 5_000))
        const body = randomBytes(size)
        const path = `/c${c}/r${i}`
        expected.push(`POST ${path} ${sha256(body)}`)
        wire.push(requestBytes(path, body, i % 2 === 1))
      }
      const got = readResponses(socket, perClient)
      await writeFragmented(socket, Buffer.concat(wire))
      t.same(await got, expected, `client ${c}: every body as sent, responses in order`)
    })())
  }
  await Promise.all(runs)
})

t.test('a head split across reads while other connections read keeps its bytes', async (t) => {
  const { port } = await startServer(t, (req, res) => { res.end(Buffer.from(`${req.url} ${String(req.headers['x-long'] ?? '').length}`)) })
  const long = 'v'.repeat(6000)
  const sockets: Socket[] = []
  for (let i = 0; i < 8; i++) {
    const s = connect(port, '127.0.0.1')
    s.setNoDelay(true)
    t.teardown(() => { s.destroy() })
    sockets.push(s)
  }
  await Promise.all(sockets.map((s) => new Promise<void>((resolve) => { s.once('connect', resolve) })))
  const answers = sockets.map((s) => readResponses(s, 1))
  const heads = sockets.map((_s, i) => Buffer.from(`GET /split${i} HTTP/1.1\r\nhost: x\r\nx-long: ${long}\r\n\r\n`))
  // Interleave: each socket's head goes out in 7 pieces, round-robin across the sockets.
  for (let piece = 0; piece < 7; piece++) {
    for (let i = 0; i < sockets.length; i++) {
      const head = heads[i] ?? Buffer.alloc(0)
      const size = Math.ceil(head.length / 7)
      sockets[i]?.write(head.subarray(piece * size, (piece + 1) * size))
    }
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  const bodies = await Promise.all(answers)
  t.same(bodies, sockets.map((_s, i) => [`/split${i} 6000`]))
})

t.test('an upgraded connection reads through its stream again: websocket echo after the switch', async (t) => {
  const { port, fallback, conns } = await startServer(t, (_req, res) => { res.end(Buffer.from('plain')) })
  const wss = new WebSocketServer({ noServer: true })
  t.teardown(() => { wss.close() })
  fallback.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => { ws.on('message', (m: Buffer) => { ws.send(m) }) })
  })
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`)
  t.teardown(() => { ws.terminate() })
  await new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  t.equal(conns[0]?.readsShared, true, 'the connection had switched before the upgrade')
  const payloads = [randomBytes(10), randomBytes(70_000), randomBytes(1)]
  for (const p of payloads) {
    const echoed = new Promise<Buffer>((resolve) => { ws.once('message', (m: Buffer) => { resolve(m) }) })
    ws.send(p)
    t.equal(sha256(await echoed), sha256(p), `${p.length} bytes echoed intact`)
  }
})

t.test('TLS sockets and sockets with buffered bytes are not switched', async (t) => {
  const tls = new TLSSocket(new Socket())
  t.teardown(() => { tls.destroy() })
  t.equal(readIntoSharedBuffer(tls, () => true), false, 'TLS: reads are decrypted by its own stream')
  const { port } = await startServer(t, (_req, res) => { res.end(Buffer.from('x')) })
  const plain = connect(port, '127.0.0.1')
  t.teardown(() => { plain.destroy() })
  await new Promise<void>((resolve) => { plain.once('connect', resolve) })
  plain.pause()
  plain.unshift(Buffer.from('held'))
  t.equal(readIntoSharedBuffer(plain, () => true), false, 'bytes already in the stream would arrive out of order')
})
