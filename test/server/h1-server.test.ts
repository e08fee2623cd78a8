import { createHash } from 'node:crypto'
import { createServer as createHttpServer, request as httpRequest, Agent, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { createServer as createNetServer, connect, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import t from 'tap'
import { Client } from 'undici'
import { WebSocket, WebSocketServer } from 'ws'
import { createDualServer } from '../../src/server/h2c-sniffing-server.ts'
import { H1Server, type H1Listener, type H1ServerOptions } from '../../src/server/h1-server.ts'
import type { H1ServerRequest } from '../../src/server/h1-server-request.ts'
import type { H1ServerResponse } from '../../src/server/h1-server-response.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { rawConnect } from '../helpers/raw-client.ts'

// H1Server over real sockets on 127.0.0.1: raw clients check the exact bytes on the wire,
// undici / node:http / ws clients check that real clients get along with it.

interface Teardown { teardown (fn: () => unknown): void }

// --- harness -------------------------------------------------------------------------------------

interface Harness {
  port: number
  origin: string
  h1: H1Server
  fallback: HttpServer
  net: NetServer
}

/** H1Server behind a plain net.Server; `fallback` is the node:http server that takes upgrades. */
async function startServer (t: Teardown, listener: H1Listener, options: Partial<H1ServerOptions> = {}): Promise<Harness> {
  const fallback = createHttpServer()
  const h1 = new H1Server({
    keepAliveTimeoutMs: 5000,
    headersTimeoutMs: 5000,
    maxHeadBytes: 16 * 1024,
    fallback,
    logger: silentLogger(),
    ...options,
  }, listener)
  const sockets = new Set<Socket>()
  const net = createNetServer({ noDelay: true }, (socket) => {
    sockets.add(socket)
    socket.on('close', () => { sockets.delete(socket) })
    h1.accept(socket, null)
  })
  await new Promise<void>((resolve) => { net.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => {
    h1.closeAllConnections()
    h1.close()
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => { net.close(() => { resolve() }) })
  })
  const port = (net.address() as AddressInfo).port
  return { port, origin: `http://127.0.0.1:${port}`, h1, fallback, net }
}

/** Polls `cond` (cheap) until it holds; fails with `what` after `ms`. */
async function until (cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A promise with its resolve, for handlers that report to the test. */
function signal<T = void> (): { promise: Promise<T>, resolve: (v: T) => void } {
  let resolve: (v: T) => void = () => {}
  const promise = new Promise<T>((r) => { resolve = r })
  return { promise, resolve }
}

async function within<T> (p: Promise<T>, what: string, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | null = null
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`timed out waiting for ${what}`)) }, ms) })
  try {
    return await Promise.race([p, timeout])
  } finally {
    if (timer !== null) clearTimeout(timer)
  }
}

interface RawResponse {
  statusLine: string
  status: number
  headers: Record<string, string>
  body: string
  trailers: string
  /** The response's bytes as received (latin1). */
  wire: string
}

/** Frames one response at text[start...]; null while incomplete. `eof`: the socket ended. */
function frameResponse (text: string, start: number, isHead: boolean, eof: boolean): { res: RawResponse, end: number } | null {
  const headEnd = text.indexOf('\r\n\r\n', start)
  if (headEnd < 0) return null
  const lines = text.slice(start, headEnd).split('\r\n')
  const statusLine = lines[0] ?? ''
  const status = Number(statusLine.split(' ')[1])
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  let p = headEnd + 4
  let body = ''
  let trailers = ''
  if (isHead || status === 204 || status === 304 || status < 200) {
    // no body
  } else if ((headers['transfer-encoding'] ?? '').toLowerCase() === 'chunked') {
    const parts: string[] = []
    for (;;) {
      const lineEnd = text.indexOf('\r\n', p)
      if (lineEnd < 0) return null
      const size = parseInt(text.slice(p, lineEnd).split(';')[0] ?? '', 16)
      if (!Number.isInteger(size)) throw new Error(`bad chunk size line ${JSON.stringify(text.slice(p, lineEnd))}`)
      p = lineEnd + 2
      if (size === 0) {
        if (text.length < p + 2) return null
        if (text.startsWith('\r\n', p)) { p += 2; break }
        const te = text.indexOf('\r\n\r\n', p)
        if (te < 0) return null
        trailers = text.slice(p, te + 2)
        p = te + 4
        break
      }
      if (text.length < p + size + 2) return null
      parts.push(text.slice(p, p + size))
      if (text.slice(p + size, p + size + 2) !== '\r\n') throw new Error('missing CRLF after chunk')
      p += size + 2
    }
    body = parts.join('')
  } else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length'])
    if (text.length < p + n) return null
    body = text.slice(p, p + n)
    p += n
  } else {
    if (!eof) return null
    body = text.slice(p)
    p = text.length
  }
  return { res: { statusLine, status, headers, body, trailers, wire: text.slice(start, p) }, end: p }
}

/** A client socket that keeps everything it receives (latin1) and reads responses one by one. */
class RawClient {
  readonly socket: Socket
  text = ''
  offset = 0
  isEnded = false
  isClosed = false
  error: (Error & { code?: string }) | null = null

  constructor (port: number) {
    this.socket = connect(port, '127.0.0.1')
    this.socket.setNoDelay(true)
    this.socket.on('data', (chunk: Buffer) => { this.text += chunk.toString('latin1') })
    this.socket.on('end', () => { this.isEnded = true })
    this.socket.on('close', () => { this.isClosed = true })
    this.socket.on('error', (err) => { this.error = err })
  }

  static async open (t: Teardown, port: number): Promise<RawClient> {
    const c = new RawClient(port)
    t.teardown(() => { c.socket.destroy() })
    await new Promise<void>((resolve, reject) => {
      c.socket.once('connect', resolve)
      c.socket.once('error', reject)
    })
    return c
  }

  send (data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data)
  }

  /** The next complete response (a 1xx counts as one). */
  async next (what: string, opts: { isHead?: boolean, ms?: number } = {}): Promise<RawResponse> {
    const found: Array<{ res: RawResponse, end: number }> = []
    await until(() => {
      const f = frameResponse(this.text, this.offset, opts.isHead ?? false, this.isEnded || this.isClosed)
      if (f !== null) found.push(f)
      return f !== null
    }, `${what} (have ${JSON.stringify(this.text.slice(this.offset, this.offset + 300))})`, opts.ms ?? 3000)
    const f = found[0]
    if (f === undefined) throw new Error('unreachable')
    this.offset = f.end
    return f.res
  }

  async closed (what: string, ms = 3000): Promise<void> {
    await until(() => this.isClosed, what, ms)
  }

  get rest (): string { return this.text.slice(this.offset) }
}

/** Drops the `date` field (the only part of a response that changes) for exact comparisons. */
function noDate (wire: string): string {
  return wire.replace(/\r\ndate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT/, '')
}

async function readBody (req: H1ServerRequest): Promise<Buffer> {
  const body = req.body
  if (body === null) return Buffer.alloc(0)
  const chunks: Buffer[] = []
  for await (const c of body) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)))
  return Buffer.concat(chunks)
}

function sha256 (b: Buffer): string { return createHash('sha256').update(b).digest('hex') }

/** Bytes that differ along the buffer, so a lost or repeated piece shows in a hash. */
function pattern (n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 10)) & 0xff
  return b
}

// --- tests ---------------------------------------------------------------------------------------

t.test('keep-alive: several requests on one socket (raw, undici, node:http)', async (t) => {
  const ports: number[] = []
  const srv = await startServer(t, (req, res) => {
    ports.push(req.socket.remotePort ?? -1)
    res.end(Buffer.from(`hello ${req.url ?? ''}`))
  })
  const c = await RawClient.open(t, srv.port)
  for (let i = 1; i <= 3; i++) {
    c.send(`GET /${i} HTTP/1.1\r\nHost: a\r\n\r\n`)
    const r = await c.next(`response ${i}`)
    t.equal(r.status, 200)
    t.equal(r.body, `hello /${i}`)
    t.equal(r.headers.connection, undefined, 'no connection field on a kept HTTP/1.1 connection')
  }
  t.equal(c.isClosed, false)
  t.equal(srv.h1.connectionCount, 1)
  t.equal(new Set(ports).size, 1, 'one socket served all three')

  const client = new Client(srv.origin)
  t.teardown(() => client.close())
  ports.length = 0
  for (let i = 0; i < 5; i++) {
    const r = await client.request({ path: `/u${i}`, method: 'GET' })
    t.equal(r.statusCode, 200)
    t.equal(await r.body.text(), `hello /u${i}`)
  }
  t.equal(new Set(ports).size, 1, 'undici reused its connection')

  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => { agent.destroy() })
  ports.length = 0
  for (let i = 0; i < 3; i++) {
    const body = await new Promise<string>((resolve, reject) => {
      httpRequest({ port: srv.port, host: '127.0.0.1', path: `/n${i}`, agent }, (res) => {
        let s = ''
        res.setEncoding('latin1')
        res.on('data', (d: string) => { s += d })
        res.on('end', () => { resolve(s) })
      }).on('error', reject).end()
    })
    t.equal(body, `hello /n${i}`)
  }
  t.equal(new Set(ports).size, 1, 'node:http agent reused its socket')
})

t.test('pipelining: responses in order, each handler only after the previous response ended', async (t) => {
  const events: string[] = []
  const srv = await startServer(t, (req, res) => {
    events.push(`start ${req.url ?? ''}`)
    void readBody(req).then((body) => {
      setTimeout(() => {
        events.push(`end ${req.url ?? ''}`)
        res.end(Buffer.from(`${req.url ?? ''}:${body.toString()}`))
      }, 15)
    })
  })
  const c = await RawClient.open(t, srv.port)
  c.send('GET /1 HTTP/1.1\r\nHost: a\r\n\r\n' +
    'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' +
    'POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
    'GET /4 HTTP/1.1\r\nHost: a\r\n\r\n')
  const bodies: string[] = []
  for (let i = 1; i <= 4; i++) bodies.push((await c.next(`pipelined response ${i}`)).body)
  t.same(bodies, ['/1:', '/2:hello', '/3:abc', '/4:'])
  t.same(events, ['start /1', 'end /1', 'start /2', 'end /2', 'start /3', 'end /3', 'start /4', 'end /4'])
  t.equal(c.rest, '', 'nothing else on the wire')
})

t.test('pipelining: nothing after a response that closes the connection is served', async (t) => {
  const urls: string[] = []
  const srv = await startServer(t, (req, res) => {
    urls.push(req.url ?? '')
    if (req.url === '/close') { res.writeHead(200, { connection: 'close' }); res.end(Buffer.from('bye')); return }
    res.end(Buffer.from('ok'))
  })
  const c = await RawClient.open(t, srv.port)
  c.send('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /close HTTP/1.1\r\nHost: a\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n')
  await c.closed('closed after the closing response')
  t.equal((await c.next('first')).body, 'ok')
  const last = await c.next('the closing response')
  t.equal(last.headers.connection, 'close')
  t.equal(c.rest, '')
  t.same(urls, ['/1', '/close'])

  const d = await RawClient.open(t, srv.port)
  d.send('GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n')
  await d.closed('closed after a request that asked for it')
  t.equal((await d.next('the only response')).headers.connection, 'close')
  t.equal(d.rest, '')
  t.same(urls, ['/1', '/close', '/a'])
})

t.test('the request object: node:http field names', async (t) => {
  const seen: Array<Record<string, unknown>> = []
  const srv = await startServer(t, (req, res) => {
    const before = req.readableDidRead
    void readBody(req).then((b) => {
      seen.push({
        method: req.method,
        url: req.url,
        httpVersion: req.httpVersion,
        major: req.httpVersionMajor,
        minor: req.httpVersionMinor,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        before,
        after: req.readableDidRead,
        complete: req.complete,
        body: b.toString(),
        sameSocket: req.socket.remotePort,
      })
      res.end()
    })
  })
  const c = await RawClient.open(t, srv.port)
  c.send('PATCH /p?x=1 HTTP/1.1\r\nHost: h\r\nX-Trace: a\r\nx-trace: b\r\nContent-Length: 2\r\n\r\nhi')
  await c.next('patch')
  c.send('GET /g HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
  await c.next('get 1.0')
  t.match(seen[0], {
    method: 'PATCH', url: '/p?x=1', httpVersion: '1.1', major: 1, minor: 1,
    headers: { host: 'h', 'x-trace': 'a, b', 'content-length': '2' },
    rawHeaders: ['Host', 'h', 'X-Trace', 'a', 'x-trace', 'b', 'Content-Length', '2'],
    before: false, after: true, complete: true, body: 'hi',
  })
  t.match(seen[1], { method: 'GET', url: '/g', httpVersion: '1.0', minor: 0, before: false, after: false, complete: true, body: '' })
  t.equal(seen[0]?.sameSocket, seen[1]?.sameSocket)
})

t.test('pipelining: many synchronous answers in one write, and requests split byte by byte', async (t) => {
  let calls = 0
  const srv = await startServer(t, (req, res) => {
    calls++
    res.end(Buffer.from(req.url ?? ''))
  })
  const c = await RawClient.open(t, srv.port)
  let wire = ''
  for (let i = 0; i < 50; i++) wire += `GET /${i} HTTP/1.1\r\nHost: a\r\n\r\n`
  c.send(wire + '\r\n')
  for (let i = 0; i < 50; i++) t.equal((await c.next(`response ${i}`)).body, `/${i}`)
  t.equal(calls, 50)

  // A head and a chunked body in one-byte writes: every byte is its own read on the server.
  const d = await RawClient.open(t, srv.port)
  const req = 'POST /bytewise HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n'
  for (const ch of req) {
    d.send(ch)
    await new Promise((resolve) => setImmediate(resolve))
  }
  const r = await d.next('bytewise response')
  t.equal(r.status, 200)
  t.equal(r.body, '/bytewise')
  t.equal(calls, 51, 'the request was handled once')
})

t.test('a stray CRLF after a request is not a second request', async (t) => {
  const urls: string[] = []
  const srv = await startServer(t, (req, res) => {
    urls.push(req.url ?? '')
    res.end(Buffer.from('ok'))
  })
  const c = await RawClient.open(t, srv.port)
  c.send('POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx\r\n')
  await c.next('first response')
  await new Promise((resolve) => setTimeout(resolve, 30))
  c.send('GET /b HTTP/1.1\r\nHost: a\r\n\r\n')
  await c.next('second response')
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.same(urls, ['/a', '/b'])
  t.equal(c.rest, '')
})

t.test('response framing on the wire', async (t) => {
  const srv = await startServer(t, (req, res) => {
    switch (req.url) {
      case '/cl': res.writeHead(200, { 'content-length': 5, 'x-a': 'b' }); res.end(Buffer.from('hello')); break
      case '/end': res.end(Buffer.from('hello world')); break
      case '/empty': res.end(); break
      case '/chunked': res.write(Buffer.from('hello')); res.write(Buffer.from(' world')); res.end(); break
      case '/chunked-end': res.writeHead(200, { 'content-type': 'text/plain' }); res.write(Buffer.from('ab')); res.end(Buffer.from('cd')); break
      case '/chunked-big': res.write(Buffer.alloc(20000, 'a')); res.end(Buffer.alloc(17000, 'b')); break
      case '/end-big': res.end(Buffer.alloc(40000, 'z')); break
      case '/flush': res.writeHead(202); res.flushHeaders(); res.end(); break
      case '/list': res.writeHead(201, ['X-One', '1', 'Set-Cookie', ['a=1', 'b=2'], 'X-Num', 3]); res.end(Buffer.from('x')); break
      case '/status': res.statusCode = 418; res.end(Buffer.from('tea')); break
      case '/date': res.writeHead(200, { Date: 'Thu, 01 Jan 1970 00:00:00 GMT', 'Content-Length': '0' }); res.end(); break
      case '/uint8': res.end(new Uint8Array([104, 105])); break
      case '/204': res.writeHead(204, { 'x-a': 'b' }); res.end(Buffer.from('nope')); break
      case '/304': res.writeHead(304, { etag: '"v1"' }); res.write(Buffer.from('nope')); res.end(); break
      case '/head': res.writeHead(200, { 'content-length': 11 }); res.end(Buffer.from('hello world')); break
      case '/close': res.writeHead(200, { Connection: 'close' }); res.end(Buffer.from('bye')); break
      default: res.writeHead(404); res.end()
    }
  })
  const c = await RawClient.open(t, srv.port)
  const exchange = async (path: string, method = 'GET'): Promise<RawResponse> => {
    c.send(`${method} ${path} HTTP/1.1\r\nHost: a\r\n\r\n`)
    return await c.next(path, { isHead: method === 'HEAD' })
  }
  const cases: Array<[string, string]> = [
    ['/cl', 'HTTP/1.1 200 OK\r\nx-a: b\r\ncontent-length: 5\r\n\r\nhello'],
    ['/end', 'HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\nhello world'],
    ['/empty', 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'],
    ['/chunked', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'],
    ['/chunked-end', 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n'],
    ['/flush', 'HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['/list', 'HTTP/1.1 201 Created\r\nX-One: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Num: 3\r\ncontent-length: 1\r\n\r\nx'],
    ['/status', 'HTTP/1.1 418 I\'m a Teapot\r\ncontent-length: 3\r\n\r\ntea'],
    ['/uint8', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi'],
    ['/204', 'HTTP/1.1 204 No Content\r\nx-a: b\r\n\r\n'],
    ['/304', 'HTTP/1.1 304 Not Modified\r\netag: "v1"\r\n\r\n'],
  ]
  for (const [path, expected] of cases) {
    const r = await exchange(path)
    t.equal(noDate(r.wire), expected, path)
    t.match(r.wire, /\r\ndate: /, `${path}: has a date`)
  }
  const date = await exchange('/date')
  t.equal(date.wire, 'HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\ncontent-length: 0\r\n\r\n', 'a given date is not doubled')

  const big = await exchange('/chunked-big')
  t.equal(big.headers['transfer-encoding'], 'chunked')
  t.equal(big.body, 'a'.repeat(20000) + 'b'.repeat(17000), 'large chunks (written as head, body, CRLF)')
  t.match(big.wire, /\r\n\r\n4e20\r\na/, 'hex chunk size')
  const endBig = await exchange('/end-big')
  t.equal(endBig.headers['content-length'], '40000')
  t.equal(endBig.body, 'z'.repeat(40000))

  // HEAD: the length stays, the body does not; the next response starts right after the head.
  const head = await exchange('/head', 'HEAD')
  t.equal(noDate(head.wire), 'HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n')
  const after = await exchange('/end')
  t.equal(after.body, 'hello world', 'no HEAD body bytes leaked into the next response')
  const headStream = await exchange('/chunked', 'HEAD')
  t.equal(noDate(headStream.wire), 'HTTP/1.1 200 OK\r\n\r\n', 'HEAD of a streamed response: no framing, no body')
  const after2 = await exchange('/end')
  t.equal(after2.body, 'hello world')
  t.equal(c.isClosed, false, '204/304/HEAD kept the connection')

  const close = await exchange('/close')
  t.equal(noDate(close.wire), 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nbye')
  await c.closed('the server closes after connection: close')
})

t.test('an invalid response head throws SLUICE_ERR_SERVER_RESPONSE_HEAD and can be replaced', async (t) => {
  const errors: string[] = []
  const srv = await startServer(t, (req, res) => {
    const attempt = (f: () => void): void => {
      try { f() } catch (err) { errors.push(err instanceof Error && 'code' in err ? String(err.code) : 'other') }
    }
    if (req.url === '/twice') {
      res.writeHead(200, { 'content-length': 2 })
      attempt(() => { res.writeHead(500) })
      res.end(Buffer.from('ok'))
      return
    }
    if (req.url === '/status') {
      attempt(() => { res.writeHead(99) })
      attempt(() => { res.writeHead(1000) })
      res.writeHead(201, { 'content-length': 1 })
      res.end(Buffer.from('s'))
      return
    }
    // A CR/LF in a value (an injected field) or a bad content-length: refused, then a 502 instead.
    attempt(() => { res.writeHead(200, { 'content-length': 99, 'x-a': 'a\r\nInjected: 1' }) })
    attempt(() => { res.writeHead(200, ['x-b', 'b', 'content-length', 'abc']) })
    attempt(() => { res.writeHead(502, { 'content-type': 'text/plain' }) })
    res.end(Buffer.from('fallback'))
  })
  const c = await RawClient.open(t, srv.port)
  c.send('GET /twice HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal((await c.next('twice')).body, 'ok')
  c.send('GET /status HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal((await c.next('status')).status, 201)
  t.same(errors, ['SLUICE_ERR_SERVER_RESPONSE_HEAD', 'SLUICE_ERR_SERVER_RESPONSE_HEAD', 'SLUICE_ERR_SERVER_RESPONSE_HEAD'])
  errors.length = 0
  c.send('GET /inject HTTP/1.1\r\nHost: a\r\n\r\n')
  await until(() => c.text.length > c.offset, 'an answer to /inject')
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(errors, ['SLUICE_ERR_SERVER_RESPONSE_HEAD', 'SLUICE_ERR_SERVER_RESPONSE_HEAD'], 'only the invalid heads threw')
  t.notMatch(c.rest, /Injected/, 'nothing of the refused head reached the wire')
  t.equal(noDate(c.rest), 'HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\nfallback', 'the replacement head is used')
})

t.test('HTTP/1.0 clients: close-delimited unless keep-alive, and then connection: keep-alive', async (t) => {
  const srv = await startServer(t, (req, res) => {
    if (req.url === '/stream') { res.write(Buffer.from('hello')); res.end(Buffer.from(' world')); return }
    res.end(Buffer.from(`v${req.httpVersion}`))
  })
  const a = await RawClient.open(t, srv.port)
  a.send('GET /stream HTTP/1.0\r\n\r\n')
  await a.closed('close-delimited response ends with the connection')
  const ra = await a.next('close-delimited')
  t.equal(noDate(ra.wire), 'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhello world')

  const b = await RawClient.open(t, srv.port)
  b.send('GET /len HTTP/1.0\r\n\r\n')
  const rb = await b.next('1.0 with a length')
  t.equal(noDate(rb.wire), 'HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nv1.0')
  await b.closed('HTTP/1.0 without keep-alive: closed')

  const c = await RawClient.open(t, srv.port)
  c.send('GET /len HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
  const rc = await c.next('1.0 keep-alive')
  t.equal(noDate(rc.wire), 'HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: keep-alive\r\n\r\nv1.0')
  c.send('GET /len HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
  t.equal((await c.next('second 1.0 request')).body, 'v1.0', 'kept for a second request')
  c.send('GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
  await c.closed('no length for 1.0: close-delimited after all')
  const rc3 = await c.next('close-delimited after keep-alive')
  t.equal(noDate(rc3.wire), 'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhello world')

  const d = await RawClient.open(t, srv.port)
  d.send('GET /len HTTP/1.1\r\nConnection: close\r\n\r\n')
  const rd = await d.next('1.1 close')
  t.equal(rd.headers.connection, 'close')
  await d.closed('HTTP/1.1 with connection: close')
})

t.test('trailers via addTrailers on a chunked response (raw, node:http, undici)', async (t) => {
  const srv = await startServer(t, (_req, res) => {
    res.writeHead(200, { trailer: 'x-checksum' })
    res.write(Buffer.from('abc'))
    res.addTrailers({ 'x-checksum': 'abc123' })
    res.addTrailers([['X-More', 'yes']])
    res.end()
  })
  const c = await RawClient.open(t, srv.port)
  c.send('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
  const r = await c.next('trailers')
  t.equal(noDate(r.wire), 'HTTP/1.1 200 OK\r\ntrailer: x-checksum\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-checksum: abc123\r\nX-More: yes\r\n\r\n')

  const viaNode = await new Promise<IncomingMessage>((resolve, reject) => {
    httpRequest({ port: srv.port, host: '127.0.0.1', path: '/' }, (res) => {
      res.resume()
      res.on('end', () => { resolve(res) })
    }).on('error', reject).end()
  })
  t.equal(viaNode.trailers['x-checksum'], 'abc123')
  t.equal(viaNode.trailers['x-more'], 'yes')

  const client = new Client(srv.origin)
  t.teardown(() => client.close())
  const u = await client.request({ path: '/', method: 'GET' })
  t.equal(await u.body.text(), 'abc')
  t.equal(u.trailers['x-checksum'], 'abc123')
})

t.test('request bodies: content-length, chunked with trailers, large streamed bodies', async (t) => {
  let sawPause = false
  const srv = await startServer(t, (req, res) => {
    const body = req.body
    if (req.url === '/slow' && body !== null) {
      // A slow reader: one chunk per timer tick, so the body stream fills and the socket pauses.
      const hash = createHash('sha256')
      let n = 0
      body.on('data', (chunk: Buffer) => {
        if (req.socket.isPaused()) sawPause = true
        hash.update(chunk)
        n += chunk.length
        body.pause()
        setTimeout(() => { body.resume() }, 1)
      })
      body.on('end', () => { res.end(Buffer.from(JSON.stringify({ n, sha: hash.digest('hex') }))) })
      return
    }
    void readBody(req).then((b) => {
      res.end(Buffer.from(JSON.stringify({
        n: b.length, sha: sha256(b), text: b.length < 100 ? b.toString('latin1') : '', trailers: req.rawTrailers, complete: req.complete, hasBody: req.body !== null,
      })))
    })
  })
  const c = await RawClient.open(t, srv.port)
  c.send('POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world')
  t.match(JSON.parse((await c.next('cl body')).body), { n: 11, text: 'hello world', complete: true, hasBody: true })
  c.send('GET /echo HTTP/1.1\r\nHost: a\r\n\r\n')
  t.match(JSON.parse((await c.next('no body')).body), { n: 0, complete: true, hasBody: false })
  c.send('POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n')
  t.match(JSON.parse((await c.next('empty body')).body), { n: 0, hasBody: false })
  // A chunked body in several writes, with an extension and trailers.
  c.send('POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel')
  await new Promise((resolve) => setTimeout(resolve, 10))
  c.send('lo\r\n6\r\n world\r\n0\r\nX-Sum: 42\r')
  await new Promise((resolve) => setTimeout(resolve, 10))
  c.send('\n\r\n')
  t.match(JSON.parse((await c.next('chunked body')).body), { n: 11, text: 'hello world', trailers: ['X-Sum', '42'], complete: true })

  const client = new Client(srv.origin)
  t.teardown(() => client.close())
  const big = pattern(5 * 1024 * 1024)
  const r = await client.request({ path: '/slow', method: 'POST', body: big })
  t.same(JSON.parse(await r.body.text()), { n: big.length, sha: sha256(big) }, '5 MB with content-length, read slowly')
  t.ok(sawPause, 'the socket was paused while the handler lagged')

  const mb = pattern(1024 * 1024, 7)
  const pieces = Readable.from((function * () { for (let i = 0; i < mb.length; i += 100_000) yield mb.subarray(i, i + 100_000) })())
  const rc = await client.request({ path: '/echo', method: 'POST', body: pieces })
  t.match(JSON.parse(await rc.body.text()), { n: mb.length, sha: sha256(mb) }, '1 MB chunked from a stream')
})

t.test('a slowly read body with a pipelined request behind it', async (t) => {
  const order: string[] = []
  const srv = await startServer(t, (req, res) => {
    order.push(req.url ?? '')
    const body = req.body
    if (body === null) { res.end(Buffer.from('none')); return }
    const hash = createHash('sha256')
    let n = 0
    body.on('data', (chunk: Buffer) => {
      hash.update(chunk)
      n += chunk.length
      body.pause()
      setTimeout(() => { body.resume() }, 1)
    })
    body.on('end', () => { res.end(Buffer.from(`${n}:${hash.digest('hex')}`)) })
  })
  const big = pattern(2 * 1024 * 1024, 3)
  const c = await RawClient.open(t, srv.port)
  c.send(`POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${big.length}\r\n\r\n`)
  c.send(Buffer.concat([big, Buffer.from('GET /next HTTP/1.1\r\nHost: a\r\n\r\n')]))
  t.equal((await c.next('upload response', { ms: 5000 })).body, `${big.length}:${sha256(big)}`)
  t.equal((await c.next('the pipelined request')).body, 'none')
  t.same(order, ['/up', '/next'])
})

t.test('a response before the body is read: the rest is discarded, the connection stays usable', async (t) => {
  const calls: string[] = []
  const srv = await startServer(t, (req, res) => {
    calls.push(req.url ?? '')
    if (req.url === '/reject') { res.writeHead(413, { 'content-length': 0 }); res.end(); return }
    if (req.url === '/reject-close') { res.writeHead(413, { connection: 'close', 'content-length': 0 }); res.end(); return }
    if (req.url === '/destroy-body') { req.body?.destroy(); res.end(Buffer.from('dropped')); return }
    if (req.url === '/resume') { req.resume(); res.end(Buffer.from('resumed')); return }
    res.end(Buffer.from(`ok ${req.url ?? ''}`))
  })
  const mb = pattern(1024 * 1024)
  const c = await RawClient.open(t, srv.port)
  c.send('POST /reject HTTP/1.1\r\nHost: a\r\nContent-Length: ' + String(mb.length) + '\r\n\r\n')
  c.send(mb)
  c.send('GET /after HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal((await c.next('413')).status, 413)
  const after = await c.next('the request after the discarded body', { ms: 5000 })
  t.equal(after.body, 'ok /after')

  // Chunked, and the response at once; then a body stream destroyed by the handler; then resume().
  let chunked = 'POST /reject HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n'
  for (let i = 0; i < 16; i++) chunked += '10000\r\n' + 'x'.repeat(0x10000) + '\r\n'
  c.send(chunked + '0\r\n\r\n')
  c.send('POST /destroy-body HTTP/1.1\r\nHost: a\r\nContent-Length: ' + String(mb.length) + '\r\n\r\n')
  c.send(mb)
  c.send('POST /resume HTTP/1.1\r\nHost: a\r\nContent-Length: ' + String(mb.length) + '\r\n\r\n')
  c.send(mb)
  c.send('GET /after2 HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal((await c.next('chunked 413')).status, 413)
  t.equal((await c.next('destroyed body', { ms: 5000 })).body, 'dropped')
  t.equal((await c.next('resumed body', { ms: 5000 })).body, 'resumed')
  t.equal((await c.next('after2', { ms: 5000 })).body, 'ok /after2')
  t.same(calls, ['/reject', '/after', '/reject', '/destroy-body', '/resume', '/after2'], 'no body byte taken for a request')

  // With connection: close the server closes instead; the client still gets the answer.
  const d = await RawClient.open(t, srv.port)
  d.send('POST /reject-close HTTP/1.1\r\nHost: a\r\nContent-Length: ' + String(mb.length) + '\r\n\r\n')
  d.socket.write(mb, () => {})
  const rd = await d.next('413 close')
  t.equal(rd.status, 413)
  t.equal(rd.headers.connection, 'close')
  await d.closed('closed after 413 + connection: close', 5000)

  // undici: an early 413 and the same client goes on.
  const client = new Client(srv.origin)
  t.teardown(() => client.close())
  const r = await client.request({ path: '/reject', method: 'POST', body: mb })
  t.equal(r.statusCode, 413)
  await r.body.text()
  const r2 = await client.request({ path: '/undici-after', method: 'GET' })
  t.equal(await r2.body.text(), 'ok /undici-after')
})

t.test('Expect: 100-continue gets 100 Continue before the body is sent', async (t) => {
  let heads = 0
  const srv = await startServer(t, (req, res) => {
    heads++
    void readBody(req).then((b) => { res.end(Buffer.from(`got ${b.toString()}`)) })
  })
  const c = await RawClient.open(t, srv.port)
  c.send('PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n')
  const cont = await c.next('100 Continue')
  t.equal(cont.wire, 'HTTP/1.1 100 Continue\r\n\r\n')
  t.equal(heads, 1, 'the handler has the request before its body')
  c.send('hello')
  const r = await c.next('final response')
  t.equal(r.status, 200)
  t.equal(r.body, 'got hello')

  // HTTP/1.0 never gets a 1xx.
  const d = await RawClient.open(t, srv.port)
  d.send('PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi')
  const r0 = await d.next('1.0 response')
  t.equal(r0.status, 200)
  t.equal(r0.body, 'got hi')
})

t.test('client disconnects: close on the response, an error on the body', async (t) => {
  const responseClosed = signal<string>()
  const bodyError = signal<Error & { code?: string }>()
  const halfCloseSeen = signal()
  const destroyClose = signal<boolean>()
  const held: { res: H1ServerResponse | null } = { res: null }
  const srv = await startServer(t, (req, res) => {
    if (req.url === '/partial') {
      res.writeHead(200)
      res.write(Buffer.from('partial'))
      res.on('close', () => { responseClosed.resolve(`destroyed=${String(res.destroyed)}`) })
      return
    }
    if (req.url === '/body') {
      req.body?.on('data', () => {})
      req.body?.on('error', (err: Error & { code?: string }) => { bodyError.resolve(err) })
      return
    }
    if (req.url === '/destroy') {
      res.write(Buffer.from('abc'))
      res.on('close', () => { destroyClose.resolve(res.destroyed) })
      res.destroy()
      return
    }
    if (req.url === '/half') {
      held.res = res
      res.on('close', () => { halfCloseSeen.resolve() })
    }
  })
  const a = await RawClient.open(t, srv.port)
  a.send('GET /partial HTTP/1.1\r\nHost: a\r\n\r\n')
  await until(() => a.text.includes('partial'), 'the partial body')
  a.socket.destroy()
  const state = await within(responseClosed.promise, 'close on the response')
  t.pass('close emitted on the response')
  // The client's FIN arrives first: 'close' is emitted from onEnd while the socket is still
  // open, so `res.destroyed` (conn.isClosed) is still false there; node:http says true.
  t.equal(state, 'destroyed=true', 'res.destroyed inside close')

  const b = await RawClient.open(t, srv.port)
  b.send('POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789')
  await new Promise((resolve) => setTimeout(resolve, 20))
  b.socket.destroy()
  const err = await within(bodyError.promise, 'the body error')
  t.equal(err.code, 'ECONNRESET')

  const d = await RawClient.open(t, srv.port)
  d.send('GET /destroy HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal(await within(destroyClose.promise, 'close after res.destroy()'), true, 'res.destroy(): close, destroyed')
  await d.closed('res.destroy() closes the connection')

  const c = await RawClient.open(t, srv.port)
  c.send('GET /half HTTP/1.1\r\nHost: a\r\n\r\n')
  await until(() => held.res !== null, 'the /half handler')
  c.socket.end()
  await within(halfCloseSeen.promise, 'close after the client half-closed')
  t.pass('a half-close aborts the response in flight')
  await c.closed('the half-closed connection closes')
  t.equal(c.text, '', 'nothing was answered')
  await until(() => srv.h1.connectionCount === 0, 'no connections left')
  t.pass('every connection is forgotten')
})

t.test('parse errors: exact status, connection: close, socket closed, handler not called', async (t) => {
  let calls = 0
  const srv = await startServer(t, (req, res) => {
    calls++
    if (req.url === '/body') {
      req.body?.on('error', () => { res.writeHead(400, { 'content-length': 0 }); res.end() })
      req.body?.resume()
      return
    }
    res.end(Buffer.from('ok'))
  }, { maxHeadBytes: 4096 })
  const cases: Array<[string, string, string]> = [
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 'HTTP/1.1 400 Bad Request'],
    ['bad method', 'G(T / HTTP/1.1\r\n\r\n', 'HTTP/1.1 400 Bad Request'],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', 'HTTP/1.1 505 HTTP Version Not Supported'],
    ['CL + TE', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 'HTTP/1.1 400 Bad Request'],
    ['head too large', 'GET / HTTP/1.1\r\nX-Big: ' + 'a'.repeat(5000) + '\r\n\r\n', 'HTTP/1.1 431 Request Header Fields Too Large'],
    ['endless head', 'GET / HTTP/1.1\r\n' + 'X-A: b\r\n'.repeat(1000), 'HTTP/1.1 431 Request Header Fields Too Large'],
  ]
  for (const [what, wire, statusLine] of cases) {
    const c = await RawClient.open(t, srv.port)
    c.send(wire)
    const r = await c.next(what)
    t.equal(r.statusLine, statusLine, what)
    t.equal(r.headers.connection, 'close', `${what}: connection: close`)
    t.equal(r.headers['content-type'], 'text/plain; charset=utf-8')
    await c.closed(`${what}: closed`)
  }
  const exact = await RawClient.open(t, srv.port)
  exact.send('GET / HTTP/3.1\r\n\r\n')
  await exact.closed('505 closed')
  t.equal(exact.text, 'HTTP/1.1 505 HTTP Version Not Supported\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 27\r\n\r\nHTTP version not supported\n')
  t.equal(calls, 0, 'no handler saw a malformed head')

  // A good request, then garbage in the same write: answered, then 400, then closed.
  const p = await RawClient.open(t, srv.port)
  p.send('GET /ok HTTP/1.1\r\nHost: a\r\n\r\nNOT HTTP AT ALL\r\n\r\n')
  t.equal((await p.next('good response')).status, 200)
  t.equal((await p.next('error response')).status, 400)
  await p.closed('closed after the error')
  t.equal(calls, 1)

  // A bad chunk mid-body: the body stream fails, the handler answers, the connection closes.
  const m = await RawClient.open(t, srv.port)
  m.send('POST /body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n')
  const rm = await m.next('answer to a bad chunk')
  t.equal(rm.status, 400)
  await m.closed('closed after a malformed body')
  t.equal(rm.headers.connection, 'close', 'the response says the connection closes')
})

t.test('a handler that throws gets a 500; the server keeps serving', async (t) => {
  const srv = await startServer(t, (req, res) => {
    if (req.url === '/throw') throw new Error('boom')
    if (req.url === '/throw-late') { res.writeHead(200); res.write(Buffer.from('x')); throw new Error('late boom') }
    res.end(Buffer.from('fine'))
  })
  const c = await RawClient.open(t, srv.port)
  c.send('GET /throw HTTP/1.1\r\nHost: a\r\n\r\n')
  const r = await c.next('500')
  t.equal(noDate(r.wire), 'HTTP/1.1 500 Internal Server Error\r\ncontent-length: 15\r\n\r\ninternal error\n')
  c.send('GET /next HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal((await c.next('after the 500')).body, 'fine', 'same connection goes on')

  const d = await RawClient.open(t, srv.port)
  d.send('GET /throw-late HTTP/1.1\r\nHost: a\r\n\r\n')
  await d.closed('a throw after the head was sent cuts the connection')

  const e = await RawClient.open(t, srv.port)
  e.send('GET /other HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal((await e.next('another connection')).body, 'fine')
})

t.test('Upgrade and CONNECT are handed to the node:http fallback with the right bytes', async (t) => {
  const srv = await startServer(t, (req, res) => { res.end(Buffer.from(`h1 ${req.url ?? ''}`)) })
  const wss = new WebSocketServer({ noServer: true })
  t.teardown(() => { wss.close() })
  const heads: Array<[string, string]> = []
  srv.fallback.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    heads.push([req.url ?? '', head.toString('latin1')])
    if (req.url === '/ws') {
      wss.handleUpgrade(req, socket, head, (ws) => { ws.on('message', (m: Buffer) => { ws.send(`echo:${m.toString()}`) }) })
      return
    }
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\n')
    socket.on('data', (d: Buffer) => { socket.write(Buffer.concat([Buffer.from('echo:'), d])) })
    if (head.length > 0) socket.write(Buffer.concat([Buffer.from('head:'), head]))
  })
  srv.fallback.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.end(`HTTP/1.1 200 Connection Established\r\n\r\n${req.url ?? ''}|${head.toString('latin1')}`)
  })

  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws`)
  t.teardown(() => { ws.terminate() })
  const echoed = new Promise<string>((resolve, reject) => {
    ws.on('open', () => { ws.send('hi') })
    ws.on('message', (m: Buffer) => { resolve(m.toString()) })
    ws.on('error', reject)
  })
  t.equal(await within(echoed, 'websocket echo'), 'echo:hi')

  // After a normal request on the same connection, with bytes after the head in the same write.
  const c = await RawClient.open(t, srv.port)
  c.send('GET /plain HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal((await c.next('plain first')).body, 'h1 /plain')
  c.send('GET /raw HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: raw\r\n\r\nHEADBYTES')
  await until(() => c.text.includes('head:HEADBYTES'), 'the upgraded socket echoes its head bytes')
  t.same(heads[heads.length - 1], ['/raw', 'HEADBYTES'])
  c.send('more')
  await until(() => c.text.includes('echo:more'), 'the upgraded socket is live')

  // A split upgrade head.
  const s = await RawClient.open(t, srv.port)
  s.send('GET /split HTTP/1.1\r\nHost: a\r\nConn')
  await new Promise((resolve) => setTimeout(resolve, 20))
  s.send('ection: Upgrade\r\nUpgrade: raw\r\n\r\n')
  await until(() => s.text.includes('101 Switching Protocols'), 'a split upgrade head is handed off')
  t.same(heads[heads.length - 1], ['/split', ''])

  const k = await RawClient.open(t, srv.port)
  k.send('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nTLS')
  await k.closed('the connect handler answers and ends')
  t.equal(k.text, 'HTTP/1.1 200 Connection Established\r\n\r\nexample.com:443|TLS')
  t.equal(srv.h1.connectionCount, 0, 'handed-off sockets are no longer ours')
})

t.test('createDualServer (impl sluice) serves HTTP/1.1 and websocket upgrades', async (t) => {
  const dual = createDualServer({ impl: 'sluice', http2: true, keepAliveTimeoutMs: 5000, headersTimeoutMs: 5000, maxHeadBytes: 16384, logger: silentLogger() },
    (req, res) => { res.end(Buffer.from(`dual ${req.url ?? ''}`)) })
  const wss = new WebSocketServer({ noServer: true })
  dual.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, (ws) => { ws.on('message', (m: Buffer) => { ws.send(`echo:${m.toString()}`) }) })
  })
  const sockets = new Set<Socket>()
  dual.net.on('connection', (s: Socket) => { sockets.add(s) })
  await new Promise<void>((resolve) => { dual.net.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => {
    wss.close()
    dual.h1?.closeAllConnections()
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => { dual.net.close(() => { resolve() }) })
  })
  const port = (dual.net.address() as AddressInfo).port
  const c = await RawClient.open(t, port)
  c.send('GET /a HTTP/1.1\r\nHost: a\r\n\r\n')
  t.equal((await c.next('dual /a')).body, 'dual /a')

  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
  t.teardown(() => { ws.terminate() })
  const echoed = new Promise<string>((resolve, reject) => {
    ws.on('open', () => { ws.send('yo') })
    ws.on('message', (m: Buffer) => { resolve(m.toString()) })
    ws.on('error', reject)
  })
  t.equal(await within(echoed, 'websocket echo through the dual server'), 'echo:yo')

  // An upgrade as the second request of a connection.
  c.send('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
  await until(() => c.text.includes('101 Switching Protocols'), 'a later upgrade through the dual server')
})

t.test('timeouts: idle keep-alive closes, a slow head gets 408, a busy connection stays', async (t) => {
  // On an injected clock, swept by hand: 1 ms before the timeouts nothing happens; at them, all of it.
  const clock = new ManualClock()
  const held: { res: H1ServerResponse | null } = { res: null }
  const srv = await startServer(t, (req, res) => {
    if (req.url === '/hold') { held.res = res; return }
    res.end(Buffer.from('ok'))
  }, { keepAliveTimeoutMs: 300, headersTimeoutMs: 300, now: () => clock.nowMs() })
  const idle = await RawClient.open(t, srv.port)
  const silent = await RawClient.open(t, srv.port)
  const slow = await RawClient.open(t, srv.port)
  const busy = await RawClient.open(t, srv.port)
  const second = await RawClient.open(t, srv.port)
  idle.send('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
  await idle.next('idle response')
  second.send('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
  await second.next('first response on the second connection')
  second.send('GET /next HTTP/1.1\r\nHost: a\r\n')
  slow.send('GET / HTTP/1.1\r\nHost: a\r\n')
  busy.send('GET /hold HTTP/1.1\r\nHost: a\r\n\r\n')
  // The partial heads were written before the held request, which the server has read.
  await until(() => held.res !== null && srv.h1.connectionCount === 5, 'the held request, five connections')

  clock.advance(299)
  srv.h1.sweep()
  t.equal(srv.h1.connectionCount, 5, 'not before the timeout: every connection still open')
  t.equal(slow.text, '', 'no 408 yet')
  clock.advance(1)
  srv.h1.sweep()
  const r408 = await slow.next('408', { ms: 2500 })
  t.equal(r408.wire, 'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
  await slow.closed('closed after 408')
  t.equal((await second.next('408 for a later request', { ms: 2500 })).status, 408, 'the head timeout applies to every request')
  await second.closed('closed after the second 408')
  await idle.closed('idle keep-alive connection closed', 2500)
  await silent.closed('a connection that never sent a byte closed', 2500)
  t.equal(idle.rest, '', 'closed without a response')
  t.equal(busy.isClosed, false, 'a connection waiting for its response is not idle')
  held.res?.end(Buffer.from('late'))
  t.equal((await busy.next('the held response')).body, 'late')
})

t.test('closeIdleConnections: idle sockets at once, a busy one after its response', async (t) => {
  const held: { res: H1ServerResponse | null } = { res: null }
  const srv = await startServer(t, (req, res) => {
    if (req.url === '/hold') { held.res = res; return }
    res.end(Buffer.from('ok'))
  })
  const idle = await RawClient.open(t, srv.port)
  idle.send('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
  await idle.next('idle response')
  const fresh = await RawClient.open(t, srv.port)
  const busy = await RawClient.open(t, srv.port)
  busy.send('GET /hold HTTP/1.1\r\nHost: a\r\n\r\n')
  await until(() => held.res !== null && srv.h1.connectionCount === 3, 'three connections, one busy')

  srv.h1.closeIdleConnections()
  await idle.closed('idle closed', 500)
  await fresh.closed('fresh closed', 500)
  t.equal(busy.isClosed, false)
  held.res?.end(Buffer.from('last'))
  const r = await busy.next('the busy response')
  t.equal(r.body, 'last')
  await busy.closed('busy closed after its response', 1000)
  t.equal(r.headers.connection, 'close', 'the last response says so')

  const late = await RawClient.open(t, srv.port)
  await late.closed('a connection accepted while closing is closed when idle', 1000)
})

t.test('closeAllConnections destroys busy connections; their responses see close', async (t) => {
  const closed = signal()
  const held: { res: H1ServerResponse | null } = { res: null }
  const srv = await startServer(t, (_req, res) => {
    held.res = res
    res.on('close', () => { closed.resolve() })
  })
  const c = await RawClient.open(t, srv.port)
  c.send('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
  await until(() => held.res !== null, 'the held request')
  srv.h1.closeAllConnections()
  await within(closed.promise, 'close on the response')
  await c.closed('destroyed')
  t.equal(held.res?.destroyed, true)
  t.equal(srv.h1.connectionCount, 0)
})

t.test('write() returns false under a slow reader and drain follows; every byte arrives', async (t) => {
  const full = signal<number>()
  const drained = signal<number>()
  const CHUNK = 256 * 1024
  const srv = await startServer(t, (_req, res) => {
    res.writeHead(200)
    let n = 0
    let ok = true
    while (ok && n < 256) ok = res.write(pattern(CHUNK, n++))
    full.resolve(n)
    if (ok) { res.end(); return }
    res.once('drain', () => {
      drained.resolve(n)
      res.write(pattern(CHUNK, n++))
      res.end(Buffer.from('END'))
    })
  })
  const c = await RawClient.open(t, srv.port)
  c.socket.pause()
  c.send('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
  const written = await within(full.promise, 'write() to return false')
  t.ok(written < 256, `write() returned false after ${written} chunks`)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(c.text, '', 'nothing read yet')
  c.socket.resume()
  t.equal(await within(drained.promise, 'drain'), written, 'drain fired')
  const r = await c.next('the whole response', { ms: 10000 })
  const expected: Buffer[] = []
  for (let i = 0; i <= written; i++) expected.push(pattern(CHUNK, i))
  expected.push(Buffer.from('END'))
  const body = Buffer.from(r.body, 'latin1')
  t.equal(body.length, (written + 1) * CHUNK + 3)
  t.equal(sha256(body), sha256(Buffer.concat(expected)), 'every byte in order')
})

t.test('refused like Go\'s server: HTTP/1.1 without Host -> 400, unsupported Expect -> 417; handler not called, connection closed', async (t) => {
  let calls = 0
  const srv = await startServer(t, (_req, res) => { calls++; res.end(Buffer.from('ok')) })
  const noHost = await RawClient.open(t, srv.port)
  noHost.send('GET / HTTP/1.1\r\n\r\n')
  const r1 = await noHost.next('no host')
  t.equal(r1.statusLine, 'HTTP/1.1 400 Bad Request')
  t.equal(r1.headers.connection, 'close')
  t.equal(r1.body.toString(), 'missing required Host header\n')
  await noHost.closed('closed after 400')
  const expect = await RawClient.open(t, srv.port)
  expect.send('PUT / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\nContent-Length: 2\r\n\r\nhi')
  const r2 = await expect.next('expect')
  t.equal(r2.statusLine, 'HTTP/1.1 417 Expectation Failed')
  t.equal(r2.headers.connection, 'close')
  await expect.closed('closed after 417')
  const http10 = await RawClient.open(t, srv.port)
  http10.send('GET / HTTP/1.0\r\n\r\n')
  t.equal((await http10.next('HTTP/1.0 without Host')).status, 200, 'HTTP/1.0 needs no Host')
  t.equal(calls, 1)
})

t.test('lingering close: after Connection: close the client may keep sending (dropped) and still reads the answer; one that never closes is cut within ~2 s', async (t) => {
  // The linger (1 s) on an injected clock, swept by hand.
  const clock = new ManualClock()
  const srv = await startServer(t, (_req, res) => { res.writeHead(200, ['connection', 'close']); res.end(Buffer.from('bye')) }, { now: () => clock.nowMs() })
  const c = await rawConnect(srv.port, { allowHalfOpen: true })
  c.socket.on('error', () => {})
  c.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
  await until(() => c.text().endsWith('bye'), 'answer read')
  t.match(c.text(), /connection: close/)
  // Bytes after the close are read and dropped, not answered and not reset.
  c.socket.write('GET /more HTTP/1.1\r\nHost: a\r\n\r\n')
  clock.advance(999)
  srv.h1.sweep()
  t.equal(srv.h1.connectionCount, 1, 'still lingering 1 ms before the linger ends')
  clock.advance(1)
  srv.h1.sweep()
  await until(() => srv.h1.connectionCount === 0, 'server gave up on the half-open client', 4000)
  t.equal((c.text().match(/HTTP\/1\.1 /g) ?? []).length, 1, 'the later request got no answer')
  c.socket.destroy()
})

t.test('tiny chunks are handed on once per read, not once per chunk (50,000 one-byte chunks)', async (t) => {
  let events = 0
  let bytes = 0
  const srv = await startServer(t, (req, res) => {
    req.body?.on('data', (c: Buffer) => { events++; bytes += c.length })
    req.body?.on('end', () => { res.end(Buffer.from(String(bytes))) })
  })
  const c = await rawConnect(srv.port)
  c.socket.write('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' + '1\r\nz\r\n'.repeat(50_000) + '0\r\n\r\n')
  await within(c.closed, 'answer')
  t.match(c.text(), /\r\n\r\n50000$/)
  t.ok(events < 1000, `${events} body events for 50,000 chunks`)
})
