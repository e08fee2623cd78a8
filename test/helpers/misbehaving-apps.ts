// User containers for adversarial tests: a node:http app whose behaviour is chosen by path, and
// a raw-socket app that misbehaves on purpose (cuts, malformed heads, extra bytes, early answers).
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer as createNetServer, type Socket } from 'node:net'
import type tap from 'tap'
import { parseResponses, type RawClient } from './raw-client.ts'

export interface Teardown { teardown (fn: () => unknown): void }

export const MB = 1024 * 1024

/**
 * The node:http app's routes (query strings ignored). It logs `end <path> <bytes>` when a body
 * arrived whole and `cut <path>` when its request closed before that.
 *   /ok            reads the body, answers `ok` (or the URL when it has a query)
 *   /read          reads the body, answers its size
 *   /sha           reads the body, answers `<size> <sha256>`
 *   /noread        answers `early` at once, never reads
 *   /stream-read   writes a head and `started\n`, reads the body, then ends with its size
 *   /stream-noread writes a head and `started\n`, nothing else
 *   /hold          drops the body; answers `held` when the test releases it
 *   /delay         drops the body; answers the URL after 20 ms
 *   /idle          neither reads nor answers
 *   /huge          answers 5 MB of `x`
 *   /headers       answers `<distinct names> <fields>` of its request
 */
export function pathApp (log: string[], holds: Array<() => void>): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    req.on('error', () => {})
    req.on('close', () => { if (!req.complete) log.push(`cut ${path}`) })
    if (path === '/ok' || path === '/read' || path === '/sha' || path === '/stream-read') {
      let bytes = 0
      const hash = path === '/sha' ? createHash('sha256') : null
      req.on('data', (c: Buffer) => { bytes += c.length; if (hash !== null) hash.update(c) })
      req.on('end', () => {
        log.push(`end ${path} ${bytes}`)
        if (hash !== null) res.end(`${bytes} ${hash.digest('hex')}`)
        else if (path === '/ok') res.end(req.url === '/ok' ? 'ok' : req.url)
        else res.end(String(bytes))
      })
    }
    switch (path) {
      case '/stream-read':
      case '/stream-noread':
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.write('started\n')
        return
      case '/noread':
        res.end('early')
        return
      case '/hold':
        req.resume()
        holds.push(() => { res.end('held') })
        return
      case '/delay':
        req.resume()
        setTimeout(() => { res.end(req.url) }, 20)
        return
      case '/huge':
        res.end(Buffer.alloc(5 * MB, 120))
        return
      case '/headers':
        res.end(`${Object.keys(req.headers).length} ${req.rawHeaders.length / 2}`)
    }
  }
}

export function releaseAll (holds: Array<() => void>): void {
  for (let h = holds.shift(); h !== undefined; h = holds.shift()) h()
}

export interface RawApp {
  port: number
  /** Request heads received, in order. */
  heads: string[]
  /** Sockets open at the app (a proxy's kept or wedged connections). */
  open: Set<Socket>
}

/**
 * A user container speaking raw bytes, one request per connection, behaviour by path:
 *   /ok             200 `ok`, Connection: close
 *   /cut-mid-body   head with Content-Length: 100, 10 bytes, then a reset
 *   /malformed      `HTTP/1.1 2x0 What`
 *   /extra          Content-Length: 5 with a whole second response after it
 *   /continue       100 Continue, reads the whole body, then 200 with its size
 *   /early-end      200 `early` with Connection: close before reading, then a half-close
 *   /early-destroy  200 `early` before reading, then a reset
 *   /switch         101 Switching Protocols to a plain request, then bytes of another protocol
 *   /no-content-body 204 with a Content-Length and body bytes after it
 *   /cl-te          Content-Length: 50 and Transfer-Encoding: chunked, a 5-byte chunked body
 * A request may carry routing headers; the activator's probe (K-Network-Probe: queue) gets `queue`.
 */
export async function startRawApp (t: Teardown): Promise<RawApp> {
  const app: RawApp = { port: 0, heads: [], open: new Set() }
  const server = createNetServer((sock) => {
    app.open.add(sock)
    sock.on('close', () => { app.open.delete(sock) })
    sock.on('error', () => {})
    let buf = Buffer.alloc(0)
    let path: string | null = null
    let bodyLength = 0
    let bodyRead = 0
    const answerContinue = (): void => {
      sock.end(`HTTP/1.1 200 OK\r\nContent-Length: ${String(bodyRead).length}\r\nConnection: close\r\n\r\n${bodyRead}`)
    }
    sock.on('data', (chunk: Buffer) => {
      if (path !== null) {
        bodyRead += chunk.length
        if (path === '/continue' && bodyRead === bodyLength) answerContinue()
        return
      }
      buf = Buffer.concat([buf, chunk])
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = buf.subarray(0, end).toString('latin1')
      path = head.split(' ')[1] ?? '/'
      bodyLength = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0)
      bodyRead = buf.length - end - 4
      if (/k-network-probe: *queue/i.test(head)) {
        app.open.delete(sock) // the activator's readiness probe: not a request under test
        sock.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nqueue')
        return
      }
      app.heads.push(head)
      switch (path) {
        case '/ok':
          sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok')
          return
        case '/cut-mid-body':
          sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789')
          setTimeout(() => { sock.destroy() }, 20)
          return
        case '/malformed':
          sock.write('HTTP/1.1 2x0 What\r\nContent-Length: 0\r\n\r\n')
          return
        case '/extra':
          sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nGHOST')
          return
        case '/continue':
          sock.write('HTTP/1.1 100 Continue\r\n\r\n')
          if (bodyRead === bodyLength) answerContinue()
          return
        case '/early-end':
          sock.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly')
          return
        case '/switch':
          sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello')
          return
        case '/no-content-body':
          sock.write('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello')
          return
        case '/cl-te':
          sock.write('HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
          return
        case '/early-destroy':
          sock.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly')
          setImmediate(() => { sock.destroy() })
      }
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const address = server.address()
  app.port = address !== null && typeof address === 'object' ? address.port : 0
  t.teardown(() => { for (const s of app.open) s.destroy(); server.close() })
  return app
}

/** 10,000 distinct field names of 1-3 characters (lower case: no two fold to one name). */
export function tinyFieldNames (): string[] {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  const names: string[] = []
  for (const a of alphabet) names.push(a)
  for (const a of alphabet) for (const b of alphabet) names.push(a + b)
  for (const a of alphabet) {
    for (const b of alphabet) {
      for (const c of alphabet) {
        if (names.length < 10_000) names.push(a + b + c)
      }
    }
  }
  // Fields with a meaning of their own would be rewritten or dropped on the way.
  return names.filter((n) => n !== 'te' && n !== 'via' && n !== 'age')
}

/** A masked client websocket frame (payload < 126 bytes). */
export function wsFrame (opcode: number, payload: Buffer): Buffer {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78])
  const masked = Buffer.alloc(payload.length)
  for (let i = 0; i < payload.length; i++) masked[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0)
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked])
}

/** A websocket handshake request for /socket; `extra` is more header lines (CRLF-terminated). */
export function upgradeRequest (extra = ''): string {
  return 'GET /socket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`
}

/** Resolves with `read()` once it has been non-zero and unchanged for `ms`. */
export async function stableFor (read: () => number, ms: number, timeoutMs: number, what: string): Promise<number> {
  const end = performance.now() + timeoutMs
  let value = read()
  let since = performance.now()
  while (performance.now() < end) {
    await new Promise((resolve) => { setTimeout(resolve, 10) })
    const v = read()
    if (v !== value) { value = v; since = performance.now() } else if (v > 0 && performance.now() - since >= ms) return v
  }
  throw new Error(`timed out waiting for ${what} to settle`)
}

/** The upload the UPSTREAM_FAULTS scenarios send while the upstream misbehaves. */
export const UPLOAD = 2 * MB

type Checks = Pick<typeof tap, 'equal' | 'ok' | 'match' | 'same' | 'not' | 'notMatch'>

/** The raw app's faults (startRawApp paths) and what a client of the proxy must see, sidecar or activator alike. */
export const UPSTREAM_FAULTS: Array<{ path: string, name: string, check: (t: Checks, c: RawClient) => void }> = [
  {
    path: '/cut-mid-body',
    name: 'closes its socket mid-response-body: the client gets the head, then the connection is cut',
    check: (t, c) => {
      const [r] = parseResponses(c.text())
      t.equal(r?.status, 200)
      t.equal(r?.isComplete, false, 'the body is incomplete')
      t.ok(c.isClosed, 'the client connection was cut (the only honest signal)')
    },
  },
  {
    path: '/malformed',
    name: 'sends a malformed response head: 502',
    check: (t, c) => {
      const [r] = parseResponses(c.text())
      t.equal(r?.status, 502)
      t.match(r?.body, /upstream/)
    },
  },
  {
    path: '/extra',
    name: 'sends more body bytes than its Content-Length: exactly the framed body, no smuggled response',
    check: (t, c) => {
      const [r, second] = parseResponses(c.text())
      t.equal(r?.status, 200)
      t.equal(r?.body, 'hello')
      t.not(second?.body, 'GHOST', 'the extra bytes never reach the client as a response')
    },
  },
  {
    path: '/continue',
    name: 'answers 100 Continue, then a real response after reading everything',
    check: (t, c) => {
      const rs = parseResponses(c.text())
      t.same(rs.map((r) => r.status), [200], 'the app\'s 1xx is not relayed to a client that did not ask for it')
      t.equal(rs[0]?.body, String(UPLOAD), 'the whole body reached the app')
    },
  },
  {
    path: '/switch',
    name: 'answers a plain request with 101 Switching Protocols: 502, nothing of the other protocol leaks',
    check: (t, c) => {
      const [r] = parseResponses(c.text())
      t.equal(r?.status, 502)
      t.notMatch(c.text(), /hello/)
    },
  },
  {
    path: '/no-content-body',
    name: 'sends body bytes after a 204: the client gets a bare 204, nothing after it',
    check: (t, c) => {
      const rs = parseResponses(c.text())
      t.equal(rs[0]?.status, 204)
      t.notMatch(c.text(), /hello/)
    },
  },
  {
    path: '/cl-te',
    name: 'frames its body with both Content-Length and chunked: never waits for the 50 bytes, nothing smuggled',
    check: (t, c) => {
      const [r] = parseResponses(c.text())
      t.ok(r?.status === 502 || (r?.status === 200 && r.body === 'hello'), `${String(r?.status)} ${JSON.stringify(r?.body)}`)
    },
  },
  {
    path: '/early-end',
    name: 'answers before reading the body and half-closes: the client gets the answer',
    check: (t, c) => {
      const [r] = parseResponses(c.text())
      t.equal(r?.status, 200)
      t.equal(r?.body, 'early')
    },
  },
  {
    path: '/early-destroy',
    name: 'answers before reading the body and resets the connection: an answer or a clean cut',
    check: (t, c) => {
      const [r] = parseResponses(c.text())
      if (r !== undefined) t.ok(r.status === 200 || r.status === 502, `status ${r.status}`)
      else t.ok(c.isClosed, 'no answer: the connection was closed')
    },
  },
]
