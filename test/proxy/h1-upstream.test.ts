import { createServer } from 'node:net'
import { Readable } from 'node:stream'
import t from 'tap'
import { H1Upstream, type H1UpstreamOptions } from '../../src/proxy/h1-upstream.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { send as sendHttp, startSidecar } from '../helpers/sidecar-fixture.ts'
import { Collector, get, listen, startHttpApp, startRawServer, until, type Teardown } from './h1-fixtures.ts'

function upstream (t: Teardown, port: number, opts: Partial<H1UpstreamOptions> = {}): H1Upstream {
  const up = new H1Upstream({ host: '127.0.0.1', port, ...opts })
  t.teardown(() => { up.destroy() })
  return up
}

async function send (up: H1Upstream, options = get()): Promise<Collector> {
  const c = new Collector()
  up.dispatch(options, c)
  await c.done
  return c
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'

// --- keep-alive and framing over node:http -------------------------------------------------------

t.test('keep-alive: sequential requests reuse one socket; the head carries our fields and a host', async (t) => {
  const seen: Array<Record<string, string | string[] | undefined>> = []
  const app = await startHttpApp(t, (req, res) => { seen.push(req.headers); res.end(`${req.method} ${req.url}`) })
  const up = upstream(t, app.port)
  for (let i = 0; i < 5; i++) {
    const c = await send(up, get(`/n/${i}?q=1`, ['X-Custom', 'v' + i, 'accept', '*/*']))
    t.equal(c.status, 200)
    t.equal(c.body, `GET /n/${i}?q=1`)
    t.same(c.trailers, {})
  }
  t.equal(app.connections, 1, 'one socket for all five')
  t.equal(up.stats.opened, 1)
  t.equal(up.stats.idle, 1)
  t.equal(seen[0]?.host, `127.0.0.1:${app.port}`, 'host added when absent')
  t.equal(seen[4]?.['x-custom'], 'v4')
  const withHost = await send(up, get('/', ['Host', 'example.com']))
  t.equal(withHost.status, 200)
  t.equal(seen[5]?.host, 'example.com', 'a given host is kept, not duplicated')
})

t.test('chunked responses (streamed by the app) arrive whole, with trailers', async (t) => {
  const app = await startHttpApp(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' })
    res.write('first ')
    setImmediate(() => {
      res.addTrailers({ 'x-checksum': 'abc123' })
      res.end('second')
    })
  })
  const up = upstream(t, app.port)
  const c = await send(up)
  t.equal(c.status, 200)
  t.equal(c.headers?.['transfer-encoding'], 'chunked')
  t.equal(c.body, 'first second')
  t.same(c.trailers, { 'x-checksum': 'abc123' })
  t.equal((await send(up)).body, 'first second', 'the socket is reused after a chunked body')
  t.equal(app.connections, 1)
})

t.test('HEAD, 204 and 304 have no body and leave the socket usable', async (t) => {
  const app = await startHttpApp(t, (req, res) => {
    if (req.url === '/204') { res.writeHead(204); res.end(); return }
    if (req.url === '/304') { res.writeHead(304, { etag: '"x"' }); res.end(); return }
    res.writeHead(200, { 'content-length': '11' })
    res.end(req.method === 'HEAD' ? undefined : 'hello world')
  })
  const up = upstream(t, app.port)
  const head = await send(up, { method: 'HEAD', path: '/', headers: [], body: null })
  t.equal(head.status, 200)
  t.equal(head.headers?.['content-length'], '11')
  t.equal(head.bodyBytes, 0)
  t.equal((await send(up, get('/204'))).status, 204)
  t.equal((await send(up, get('/304'))).status, 304)
  t.equal((await send(up)).body, 'hello world')
  t.equal(app.connections, 1, 'all on one socket')
})

t.test('request bodies: buffer, string, stream with a length, and chunked stream', async (t) => {
  const got: Array<{ te: string | undefined, cl: string | undefined, body: string }> = []
  const app = await startHttpApp(t, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      got.push({ te: req.headers['transfer-encoding'], cl: req.headers['content-length'], body: Buffer.concat(chunks).toString() })
      res.end('ok')
    })
  })
  const up = upstream(t, app.port)
  t.equal((await send(up, { method: 'POST', path: '/', headers: [], body: Buffer.from('buffer body') })).body, 'ok')
  t.equal((await send(up, { method: 'PUT', path: '/', headers: [], body: 'string bódy' })).body, 'ok')
  t.equal((await send(up, { method: 'POST', path: '/', headers: ['content-length', '6'], body: Readable.from([Buffer.from('abc'), Buffer.from('def')]) })).body, 'ok')
  t.equal((await send(up, { method: 'POST', path: '/', headers: [], body: Readable.from([Buffer.from('chunk one,'), Buffer.alloc(0), Buffer.from(' chunk two')]) })).body, 'ok')
  t.same(got, [
    { te: undefined, cl: '11', body: 'buffer body' },
    { te: undefined, cl: String(Buffer.byteLength('string bódy')), body: 'string bódy' },
    { te: undefined, cl: '6', body: 'abcdef' },
    { te: 'chunked', cl: undefined, body: 'chunk one, chunk two' },
  ])
  t.equal(app.connections, 1, 'bodies end cleanly: the socket is reused throughout')
})

t.test('chunked request body on the wire: size lines, data, last chunk', async (t) => {
  let wire = ''
  const server = createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      wire += chunk.toString('latin1')
      if (wire.endsWith('0\r\n\r\n')) socket.write(OK)
    })
  })
  const port = await listen(t, server)
  const up = upstream(t, port)
  const c = await send(up, { method: 'POST', path: '/up', headers: ['x-a', 'b'], body: Readable.from([Buffer.from('hello'), Buffer.alloc(20, 0x61)]) })
  t.equal(c.status, 200)
  t.equal(wire, `POST /up HTTP/1.1\r\nx-a: b\r\nhost: 127.0.0.1:${port}\r\ntransfer-encoding: chunked\r\n\r\n` +
    '5\r\nhello\r\n14\r\n' + 'a'.repeat(20) + '\r\n0\r\n\r\n')
})

t.test('large bodies both ways, with backpressure in each direction', async (t) => {
  const SIZE = 8 * 1024 * 1024
  let serverPausedReading = false
  let serverSawBackpressure = false
  const app = await startHttpApp(t, (req, res) => {
    if (req.method === 'POST') {
      // A slow reader: stop reading for a while, so the upload must wait for it.
      let n = 0
      req.pause()
      serverPausedReading = true
      setTimeout(() => {
        serverPausedReading = false
        req.on('data', (c: Buffer) => { n += c.length })
        req.resume()
      }, 150)
      req.on('end', () => { res.end(String(n)) })
      return
    }
    res.writeHead(200, { 'content-length': String(SIZE) })
    let sent = 0
    const chunk = Buffer.alloc(64 * 1024, 0x62)
    const pump = (): void => {
      while (sent < SIZE) {
        sent += chunk.length
        if (!res.write(chunk)) { serverSawBackpressure = true; res.once('drain', pump); return }
      }
      res.end()
    }
    pump()
  })
  const up = upstream(t, app.port)

  // Upload: a generated stream that counts how often the client paused it.
  let produced = 0
  let pauses = 0
  let producedWhileServerPaused = 0
  const source = new Readable({
    read () {
      if (produced >= SIZE) { this.push(null); return }
      produced += 64 * 1024
      if (serverPausedReading) producedWhileServerPaused = produced
      this.push(Buffer.alloc(64 * 1024, 0x61))
    },
  })
  const origPause = source.pause.bind(source)
  source.pause = () => { pauses++; return origPause() }
  const upload = await send(up, { method: 'POST', path: '/', headers: ['content-length', String(SIZE)], body: source })
  t.equal(upload.body, String(SIZE), 'every byte arrived')
  t.ok(pauses > 0, 'the body stream was paused when the socket was full')
  t.ok(producedWhileServerPaused < SIZE, 'the source did not run ahead of a stalled server')

  // Download: the handler pauses at each chunk and resumes a tick later; at first it stalls longer.
  const c = new Collector()
  let stalled = false
  c.onChunk = (controller) => {
    controller.pause()
    if (!stalled) { stalled = true; setTimeout(() => { controller.resume() }, 150); return }
    setImmediate(() => { controller.resume() })
  }
  up.dispatch(get(), c)
  await c.done
  t.equal(c.error, null)
  t.equal(c.bodyBytes, SIZE, 'every byte arrived')
  t.ok(serverSawBackpressure, 'the app had to wait for the paused client')
  t.equal(app.connections, 1, 'both on one socket')
})

// --- pool limits and the queue -----------------------------------------------------------------

t.test('maxConnections bounds the sockets; waiting requests are served in FIFO order', async (t) => {
  const held: Array<() => void> = []
  const order: string[] = []
  let inFlight = 0
  let maxInFlight = 0
  const app = await startHttpApp(t, (req, res) => {
    order.push(req.url ?? '')
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    held.push(() => { inFlight--; res.end('done') })
  })
  const up = upstream(t, app.port, { maxConnections: 2, maxQueued: 4 })
  const cs = Array.from({ length: 7 }, () => new Collector())
  const accepted = cs.map((c, i) => up.dispatch(get(`/${i}`), c))
  t.same(accepted, [true, true, false, false, false, false, false], 'false once requests wait')
  t.equal(cs[6]?.error?.code, 'SLUICE_ERR_PROXY_UPSTREAM_QUEUE_FULL', 'beyond the queue bound: refused at once')
  t.equal(up.stats.queued, 4)
  const finished = Promise.all(cs.slice(0, 6).map((c) => c.done))
  // Both sockets busy before the first answer (else a slow start lets /0 finish before /1 arrives).
  await until(() => held.length === 2, 2000, 'both connections busy')
  while (order.length < 6 || held.length > 0) {
    await until(() => held.length > 0 || order.length >= 6, 2000, 'a held request')
    held.shift()?.()
    await new Promise((resolve) => setImmediate(resolve))
  }
  await finished
  t.same(order, ['/0', '/1', '/2', '/3', '/4', '/5'], 'first in, first served')
  t.equal(maxInFlight, 2)
  t.equal(app.connections, 2)
  t.equal(up.stats.queued, 0)
})

t.test('an aborted queued request leaves the queue', async (t) => {
  const hold: { release: (() => void) | null } = { release: null }
  const app = await startHttpApp(t, (_req, res) => { hold.release = () => { res.end('x') } })
  const up = upstream(t, app.port, { maxConnections: 1 })
  const first = new Collector()
  const second = new Collector()
  up.dispatch(get(), first)
  up.dispatch(get(), second)
  t.equal(up.stats.queued, 1)
  second.controller?.abort(new Error('client gone'))
  await second.done
  t.equal(second.error?.message, 'client gone')
  t.equal(up.stats.queued, 0)
  await until(() => hold.release !== null)
  hold.release?.()
  await first.done
  t.equal(first.body, 'x')
  t.equal(second.lateCalls, 0)
})

// --- idle sockets --------------------------------------------------------------------------------

t.test('idle sockets close after the idle timeout (coarse sweep, fake timers)', async (t) => {
  const app = await startHttpApp(t, (_req, res) => { res.end('ok') })
  const timers = new ManualTimers(new ManualClock())
  const up = upstream(t, app.port, { idleTimeoutMs: 4000, timers })
  await send(up)
  t.equal(up.stats.idle, 1)
  await timers.advance(3000)
  t.equal(up.stats.idle, 1, 'still open at 3 s')
  await send(up)
  await timers.advance(3000)
  t.equal(up.stats.idle, 1, 'use restarts the idle time')
  await timers.advance(1000)
  t.equal(up.stats.connections, 0, 'closed within the timeout after its last use')
  await until(() => app.sockets.size === 0, 2000, 'the app to see the close')
  t.equal(timers.size, 0, 'the sweep stops with no socket left')
  await send(up)
  t.equal(up.stats.opened, 2, 'a new socket afterwards')
})

t.test('a socket the app closed while idle is dropped; the next request gets a fresh one', async (t) => {
  const raw = await startRawServer(t, (conn) => { conn.socket.end(OK) }) // answers, then closes: no Connection header
  const up = upstream(t, raw.port)
  t.equal((await send(up)).body, 'ok')
  await until(() => up.stats.connections === 0, 2000, 'the idle socket to be dropped')
  const c = await send(up)
  t.equal(c.body, 'ok')
  t.equal(up.stats.opened, 2)
})

t.test('the keep-alive race (socket closed as the request arrives) surfaces as UND_ERR_SOCKET', async (t) => {
  const raw = await startRawServer(t, (conn, _head, n) => {
    if (n === 1) conn.socket.write(OK)
    else conn.socket.destroy() // the app closed its idle socket just as our request landed
  })
  const up = upstream(t, raw.port)
  t.equal((await send(up)).body, 'ok')
  const c = await send(up)
  t.equal(c.error?.code, 'UND_ERR_SOCKET')
  t.equal(c.status, 0, 'no response started: the exchange may replay it')
  t.equal((await send(up)).body, 'ok', 'then a fresh socket works')
})

t.test('connect refused passes ECONNREFUSED through', async (t) => {
  const probe = createServer()
  await new Promise<void>((resolve) => { probe.listen(0, '127.0.0.1', resolve) })
  const address = probe.address()
  const port = address !== null && typeof address === 'object' ? address.port : 0
  await new Promise<void>((resolve) => { probe.close(() => { resolve() }) })
  const up = upstream(t, port)
  const c = await send(up)
  t.equal(c.error?.code, 'ECONNREFUSED')
  t.equal(up.stats.connections, 0)
})

// --- malformed and hostile responses ---------------------------------------------------------------

t.test('malformed responses fail with SLUICE_ERR_PROXY_UPSTREAM_PROTOCOL and kill the socket', async (t) => {
  const cases: Array<[string, string]> = [
    ['bad status line', 'HTTP/1.1 OK\r\n\r\n'],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n'],
    ['smuggling signs', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['101 we never asked for', 'HTTP/1.1 101 Switching Protocols\r\n\r\n'],
  ]
  for (const [what, reply] of cases) {
    const raw = await startRawServer(t, (conn) => { conn.socket.write(reply) })
    const up = upstream(t, raw.port)
    const c = await send(up)
    t.equal(c.error?.code, 'SLUICE_ERR_PROXY_UPSTREAM_PROTOCOL', what)
    t.equal(up.stats.connections, 0, `${what}: socket closed`)
  }
})

t.test('a response head over the limit fails without buffering more', async (t) => {
  let written = 0
  const raw = await startRawServer(t, (conn) => {
    conn.socket.write('HTTP/1.1 200 OK\r\n')
    const line = Buffer.from('X-Filler: ' + 'f'.repeat(1000) + '\r\n')
    const pump = (): void => {
      while (!conn.closed && written < 4 * 1024 * 1024) {
        written += line.length
        if (!conn.socket.write(line)) { conn.socket.once('drain', pump); return }
      }
    }
    pump()
  })
  const up = upstream(t, raw.port, { maxHeadBytes: 16 * 1024 })
  const c = await send(up)
  t.equal(c.error?.code, 'SLUICE_ERR_PROXY_UPSTREAM_PROTOCOL')
  t.match(c.error?.message ?? '', /too large/)
  t.ok(written < 4 * 1024 * 1024, 'the server could not push all of it: we stopped reading')
})

t.test('evil server: a response dribbled one byte at a time parses the same', async (t) => {
  const reply = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Slow: yes\r\n\r\n4;ext=1\r\nslow\r\n0\r\nX-T: done\r\n\r\n'
  const raw = await startRawServer(t, (conn) => {
    let i = 0
    const next = (): void => {
      if (i >= reply.length || conn.closed) return
      conn.socket.write(reply[i++] ?? '')
      setTimeout(next, 0)
    }
    next()
  })
  const up = upstream(t, raw.port)
  const c = await send(up)
  t.equal(c.error, null)
  t.equal(c.headers?.['x-slow'], 'yes')
  t.equal(c.body, 'slow')
  t.same(c.trailers, { 'x-t': 'done' })
})

t.test('evil server: 100 Continue and 103 Early Hints are skipped', async (t) => {
  const raw = await startRawServer(t, (conn) => {
    conn.socket.write('HTTP/1.1 100 Continue\r\n\r\n')
    setTimeout(() => { conn.socket.write('HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n' + OK) }, 5)
  })
  const up = upstream(t, raw.port)
  const c = await send(up)
  t.equal(c.status, 200)
  t.equal(c.body, 'ok')
  t.notOk(c.headers !== null && 'link' in c.headers, 'early hints do not leak into the final head')
})

t.test('evil server: bytes after the response, or on an idle socket, retire the socket', async (t) => {
  const extra = await startRawServer(t, (conn) => { conn.socket.write(OK + 'HTTP/1.1 200 OK\r\n') })
  const up = upstream(t, extra.port)
  const c = await send(up)
  t.equal(c.body, 'ok', 'the response itself is delivered')
  t.equal(up.stats.connections, 0, 'but the socket is not reused')

  const unsolicited = await startRawServer(t, (conn) => {
    conn.socket.write(OK)
    setTimeout(() => { if (!conn.closed) conn.socket.write('surprise') }, 20)
  })
  const up2 = upstream(t, unsolicited.port)
  t.equal((await send(up2)).body, 'ok')
  await until(() => up2.stats.connections === 0, 2000, 'the idle socket to be dropped')
})

t.test('close-delimited and HTTP/1.0 responses: delivered whole, socket not reused', async (t) => {
  const raw = await startRawServer(t, (conn, head) => {
    if (head.startsWith('GET /10')) conn.socket.end('HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nold!')
    else conn.socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end')
  })
  const up = upstream(t, raw.port)
  const a = await send(up)
  t.equal(a.body, 'until the end')
  const b = await send(up, get('/10'))
  t.equal(b.body, 'old!')
  t.equal(raw.conns.length, 2)
})

t.test('a response cut mid-body fails with UND_ERR_SOCKET after the response started', async (t) => {
  const raw = await startRawServer(t, (conn) => { conn.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly some') })
  const up = upstream(t, raw.port)
  const c = await send(up)
  t.equal(c.status, 200)
  t.equal(c.error?.code, 'UND_ERR_SOCKET')
})

// --- aborts and refusals -----------------------------------------------------------------------------

t.test('abort mid-response: error reported once, socket destroyed, nothing after', async (t) => {
  const app = await startHttpApp(t, (_req, res) => {
    res.writeHead(200)
    res.write('first')
    const timer = setInterval(() => { res.write('more') }, 5)
    res.on('close', () => { clearInterval(timer) })
  })
  const up = upstream(t, app.port)
  const c = new Collector()
  c.onChunk = (controller) => { controller.abort(new Error('client went away')) }
  up.dispatch(get(), c)
  await c.done
  t.equal(c.error?.message, 'client went away')
  t.equal(c.controller?.aborted, true)
  t.equal(up.stats.connections, 0)
  await until(() => app.sockets.size === 0, 2000, 'the app to see the close')
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(c.lateCalls, 0)
  c.controller?.abort(new Error('again'))
  t.equal(c.lateCalls, 0, 'a second abort is a no-op')
})

t.test('abort from onRequestStart: nothing is sent', async (t) => {
  const app = await startHttpApp(t, (_req, res) => { res.end() })
  const up = upstream(t, app.port)
  const c = new Collector()
  c.onRequestStart = (controller) => { c.controller = controller; controller.abort(new Error('already over')) }
  up.dispatch(get(), c)
  await c.done
  t.equal(c.error?.message, 'already over')
  t.equal(up.stats.opened, 0)
})

t.test('CR/LF and other unsafe bytes are refused before anything is sent', async (t) => {
  const raw = await startRawServer(t, (conn) => { conn.socket.write(OK) })
  const up = upstream(t, raw.port)
  const bad: Array<[string, Parameters<H1Upstream['dispatch']>[0]]> = [
    ['CRLF in a value', get('/', ['x-a', 'v\r\nx-injected: 1'])],
    ['LF in a value', get('/', ['x-a', 'v\nGET /smuggled HTTP/1.1'])],
    ['NUL in a value', get('/', ['x-a', 'v\0'])],
    ['CRLF in a name', get('/', ['x-a\r\nx-b', 'v'])],
    ['space in a name', get('/', ['x a', 'v'])],
    ['colon in a name', get('/', ['x:a', 'v'])],
    ['empty name', get('/', ['', 'v'])],
    ['non-latin1 value', get('/', ['x-a', '\u2028'])],
    ['CRLF in the path', get('/a\r\nx-injected: 1')],
    ['space in the path', get('/a b')],
    ['bad method', { method: 'GET /x HTTP/1.1\r\n', path: '/', headers: [], body: null }],
    ['odd header list', { method: 'GET', path: '/', headers: ['x-a'], body: null }],
    ['content-length without a body', { method: 'POST', path: '/', headers: ['content-length', '5'], body: null }],
    ['content-length not matching the body', { method: 'POST', path: '/', headers: ['content-length', '5'], body: 'abc' }],
    ['bad content-length', { method: 'POST', path: '/', headers: ['content-length', '1e3'], body: 'abc' }],
    ['CONNECT', { method: 'CONNECT', path: 'example.com:443', headers: [], body: null }],
  ]
  for (const [what, options] of bad) {
    const c = await send(up, options)
    t.equal(c.error?.code, 'SLUICE_ERR_PROXY_REQUEST_INVALID', what)
    t.equal((c.error as { statusCode?: number } | null)?.statusCode, 400, `${what}: a 400-class error`)
  }
  t.equal(up.stats.opened, 0, 'no socket was even opened')
  t.equal(raw.conns.length, 0)
  t.equal((await send(up, get('/', ['x-ok', 'tab\tand obs-text \u00e9']))).body, 'ok', 'HTAB and latin1 obs-text are fine')
})

t.test('a request body that errors (client gone mid-upload) fails the request and the socket', async (t) => {
  const app = await startHttpApp(t, (req, res) => { req.resume(); req.on('end', () => { res.end('never') }) })
  const up = upstream(t, app.port)
  const body = new Readable({ read () {} })
  const c = new Collector()
  up.dispatch({ method: 'POST', path: '/', headers: [], body }, c)
  body.push('partial')
  await until(() => app.sockets.size === 1)
  body.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))
  await c.done
  t.equal(c.error?.code, 'ECONNRESET')
  t.equal(up.stats.connections, 0)
})

t.test('a request body that failed while the request waited for its connection fails the request at once', async (t) => {
  const app = await startHttpApp(t, (req, res) => { req.resume(); req.on('end', () => { res.end('never') }) })
  const up = upstream(t, app.port)
  const body = new Readable({ read () {} })
  body.on('error', () => {}) // the server's body streams carry a listener (the exchange's)
  const c = new Collector()
  up.dispatch({ method: 'POST', path: '/', headers: [['transfer-encoding', 'chunked']].flat(), body }, c) // connecting now
  body.destroy(Object.assign(new Error('malformed'), { code: 'SLUICE_ERR_SERVER_BODY_MALFORMED' }))
  await c.done
  t.equal(c.error?.code, 'SLUICE_ERR_SERVER_BODY_MALFORMED', 'the body\'s own error')
  await until(() => up.stats.connections === 0, 2000, 'the connection is not kept')
})

// --- lifecycle -----------------------------------------------------------------------------------------

t.test('close() lets requests in flight finish, then refuses new ones', async (t) => {
  const hold: { release: (() => void) | null } = { release: null }
  const app = await startHttpApp(t, (req, res) => {
    if (req.url === '/slow') { hold.release = () => { res.end('slow done') }; return }
    res.end('ok')
  })
  const up = upstream(t, app.port)
  await send(up)
  const slow = new Collector()
  up.dispatch(get('/slow'), slow)
  await until(() => hold.release !== null)
  let closed = false
  const closing = up.close().then(() => { closed = true })
  t.equal(up.stats.idle, 0, 'idle sockets closed at once')
  const late = await send(up)
  t.equal(late.error?.code, 'UND_ERR_CLOSED')
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(closed, false, 'still waiting for the request in flight')
  hold.release?.()
  await slow.done
  t.equal(slow.body, 'slow done')
  await closing
  t.equal(up.stats.connections, 0)
})

t.test('destroy() fails requests in flight and queued', async (t) => {
  const app = await startHttpApp(t, () => { /* never answers */ })
  const up = new H1Upstream({ host: '127.0.0.1', port: app.port, maxConnections: 1 })
  const a = new Collector()
  const b = new Collector()
  up.dispatch(get(), a)
  up.dispatch(get(), b)
  await until(() => app.sockets.size === 1)
  up.destroy()
  await Promise.all([a.done, b.done])
  t.equal(a.error?.code, 'UND_ERR_CLOSED')
  t.equal(b.error?.code, 'UND_ERR_CLOSED')
  t.equal(up.stats.connections, 0)
  t.equal((await send(up)).error?.code, 'UND_ERR_CLOSED')
})

// --- through the sidecar ---------------------------------------------------------------------------------

t.test('sidecar --upstream-client sluice: the keep-alive race is replayed by the exchange, a sent body is not', async (t) => {
  const raw = await startRawServer(t, (conn, head, n) => {
    if (n > 1) { conn.socket.destroy(); return } // the app dropped its idle socket as our request arrived
    conn.socket.write(head.startsWith('POST') ? OK : 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh')
  })
  const { url } = await startSidecar(t, raw.port, { CONTAINER_CONCURRENCY: '1' }, ['--upstream-client', 'sluice'])
  t.equal((await sendHttp(url)).body, 'fresh')
  const r = await sendHttp(url)
  t.equal(r.status, 200, 'GET replayed on a new socket')
  t.equal(r.body, 'fresh')
  const post = await sendHttp(url, { method: 'POST', body: 'payload' })
  t.equal(post.status, 502, 'a request whose body was sent is not replayed')
  t.match(post.body, /UND_ERR_SOCKET/)
})

t.test('sidecar --upstream-client undici (the fallback, loaded on demand) still proxies', async (t) => {
  const app = await startHttpApp(t, (req, res) => { res.end(`via ${req.headers.host ?? ''}`) })
  const { url } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '2' }, ['--upstream-client', 'undici'])
  const r = await sendHttp(url)
  t.equal(r.status, 200)
  t.match(r.body, /^via 127\.0\.0\.1:/)
})
