import { WebSocketHandshakeError, WebSocketUrlError } from '../shared/errors.ts'
import { isToken, trimOws } from '../shared/http-syntax.ts'
import { SECTION_MORE, SECTION_TOO_LARGE, SectionReader } from '../shared/section-reader.ts'

// The client's side of the RFC 6455 opening handshake (section 4.1): the GET with Upgrade it
// writes, and the check of the 101 it reads back, on a plain net/tls socket.
//
// Why not node:http's request + 'upgrade' event: on Node 24 node:http (and `ws`, which uses it)
// loads http2, tls, crypto and zlib with it; the activator pays +11 MB RSS for one websocket
// (loadtest/results/memory-findings-2026-12-06.md). And not proxy/h1-response-parser.ts: it is a
// proxy's parser, for which a 101 is an error, and it frames bodies we never have here.
//
// The answer is read up to its empty line with shared/section-reader.ts (bounded); the bytes
// after it are the first websocket frames and go to the frame parser.

/** RFC 6455 1.3: appended to the key before SHA-1. */
const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
/** The largest 101 head we read; gorilla's is ~130 bytes. */
export const MAX_HANDSHAKE_HEAD_BYTES = 16 * 1024

/** Where to connect and what to ask for, from a ws:// or wss:// URL. */
export interface WebSocketTarget {
  readonly isSecure: boolean
  /** Host name or IP to dial (IPv6 without brackets). */
  readonly host: string
  readonly port: number
  /** The Host header: host[:port], the port only when not the scheme's default (RFC 6455 4.1). */
  readonly hostHeader: string
  /** Path and query, at least `/`. */
  readonly resource: string
}

/** Parses a ws:// or wss:// URL; throws WebSocketUrlError for anything else. */
export function webSocketTargetOf (url: string): WebSocketTarget {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new WebSocketUrlError(`not a URL: ${JSON.stringify(url)}`)
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new WebSocketUrlError(`not a ws:// or wss:// URL: ${JSON.stringify(url)}`)
  if (parsed.hostname === '') throw new WebSocketUrlError(`no host in ${JSON.stringify(url)}`)
  // RFC 6455 3: "Fragment identifiers are meaningless in the context of WebSocket URIs".
  if (parsed.hash !== '' || url.includes('#')) throw new WebSocketUrlError(`a websocket URL has no fragment: ${JSON.stringify(url)}`)
  const isSecure = parsed.protocol === 'wss:'
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname
  return {
    isSecure,
    host,
    port: parsed.port === '' ? (isSecure ? 443 : 80) : Number(parsed.port),
    hostHeader: parsed.host,
    resource: (parsed.pathname === '' ? '/' : parsed.pathname) + parsed.search,
  }
}

/** The GET that asks for the upgrade. `key`: 16 random bytes, base64. No extension, no subprotocol. */
export function handshakeRequestOf (target: WebSocketTarget, key: string): string {
  return `GET ${target.resource} HTTP/1.1\r\nHost: ${target.hostHeader}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
}

/** What the server must answer in Sec-WebSocket-Accept: base64(SHA-1(key + GUID)). */
export function acceptValueOf (key: string): string {
  return process.getBuiltinModule('node:crypto').createHash('sha1').update(key + ACCEPT_GUID).digest('base64')
}

/** `read` results. */
export const HANDSHAKE_MORE = -1
/** `read` result: the answer is wrong; see `error`. */
export const HANDSHAKE_FAILED = -2

/** Reads and checks the server's answer to one handshake request. */
export class HandshakeResponseReader {
  readonly #expectedAccept: string
  readonly #section: SectionReader
  /** After HANDSHAKE_FAILED. */
  error: WebSocketHandshakeError | null

  constructor (key: string, maxHeadBytes = MAX_HANDSHAKE_HEAD_BYTES) {
    this.#expectedAccept = acceptValueOf(key)
    this.#section = new SectionReader(maxHeadBytes)
    this.error = null
  }

  /**
   * Feeds bytes of the answer. Returns the index in `buf` just past the head when a valid 101 is
   * complete (the rest of `buf` is websocket frames), HANDSHAKE_MORE, or HANDSHAKE_FAILED.
   */
  read (buf: Buffer): number {
    const end = this.#section.read(buf, 0, buf.length)
    if (end === SECTION_MORE) return HANDSHAKE_MORE
    if (end === SECTION_TOO_LARGE) {
      this.error = new WebSocketHandshakeError(`handshake answer head over ${this.#section.maxBytes} bytes`)
      return HANDSHAKE_FAILED
    }
    const s = this.#section
    const problem = checkAnswer(s.section.toString('latin1', s.start, s.stop), this.#expectedAccept)
    s.reset()
    if (problem === null) return end
    this.error = problem
    return HANDSHAKE_FAILED
  }
}

/** Null when `head` (status line to empty line) is a valid 101 with `expectedAccept`; else what is wrong. */
function checkAnswer (head: string, expectedAccept: string): WebSocketHandshakeError | null {
  const lines = head.split('\n')
  const statusLine = lines[0] ?? ''
  const status = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r]*))?\r$/.exec(statusLine)
  if (status === null) return failure(`handshake answer is not HTTP/1.x: ${JSON.stringify(statusLine.slice(0, 80))}`, 0)
  const code = Number(status[2])
  if (code !== 101) return failure(`server answered ${code} ${status[3] ?? ''}`.trimEnd() + ' instead of 101 Switching Protocols', code)
  // 101 exists only in HTTP/1.1 (an HTTP/1.0 server cannot switch protocols).
  if (status[1] !== '1') return failure('server answered 101 in HTTP/1.0', code)
  let upgrade = ''
  let connection = ''
  let accept: string | null = null
  // lines: status, fields..., '\r' (the empty line), '' (after its LF).
  for (let i = 1; i < lines.length - 2; i++) {
    const line = lines[i]
    if (!line.endsWith('\r')) return failure('handshake answer has a bare LF', code)
    const colon = line.indexOf(':')
    const name = colon > 0 ? line.slice(0, colon) : ''
    if (!isToken(name)) return failure(`handshake answer has a malformed field line: ${JSON.stringify(line.slice(0, 80))}`, code)
    const value = trimOws(line.slice(colon + 1, -1))
    switch (name.toLowerCase()) {
      case 'upgrade': upgrade = value; break
      case 'connection': connection = connection === '' ? value : connection + ',' + value; break
      case 'sec-websocket-accept':
        if (accept !== null) return failure('handshake answer has two Sec-WebSocket-Accept fields', code)
        accept = value
        break
      // RFC 6455 4.1: an extension or subprotocol we did not ask for fails the connection.
      case 'sec-websocket-extensions': return failure(`server chose extension ${JSON.stringify(value)}, which was not offered`, code)
      case 'sec-websocket-protocol': return failure(`server chose subprotocol ${JSON.stringify(value)}, which was not offered`, code)
    }
  }
  if (upgrade.toLowerCase() !== 'websocket') return failure(`handshake answer's Upgrade is ${JSON.stringify(upgrade)}, not websocket`, code)
  if (!connection.split(',').some((token) => trimOws(token).toLowerCase() === 'upgrade')) {
    return failure(`handshake answer's Connection is ${JSON.stringify(connection)}, without upgrade`, code)
  }
  if (accept === null) return failure('handshake answer has no Sec-WebSocket-Accept', code)
  if (accept !== expectedAccept) return failure('handshake answer has a wrong Sec-WebSocket-Accept', code)
  return null
}

function failure (message: string, status: number): WebSocketHandshakeError {
  return new WebSocketHandshakeError(message, status)
}
