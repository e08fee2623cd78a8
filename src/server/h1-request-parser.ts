import type { IncomingHttpHeaders } from 'node:http'
import { consumeChunkFraming, S_CHUNK_DATA, S_CHUNK_DATA_CR, S_CHUNK_DATA_LF, S_CHUNK_EXT, S_CHUNK_SIZE, S_CHUNK_SIZE_LF, S_TRAILERS, startChunks } from '../shared/chunked-framing.ts'
import { SECTION_MORE, SECTION_TOO_LARGE, SectionReader } from '../shared/section-reader.ts'
import { fieldNameTable, hasHtabAfterValue, isChunkedOnly, isValidHostBytes, matchFieldName, parseContentLength, TOKEN, trimOws } from '../shared/http-syntax.ts'

// An incremental HTTP/1.1 request parser (RFC 9112) for H1Server: request line, header fields,
// and body framing by Content-Length or chunked (extensions and trailers). It is fed the
// socket's buffers as they come and hands body bytes on as slices of those buffers (never
// copied). Only a head or trailer section that straddles two reads is copied
// (shared/section-reader.ts, bounded). The sibling of H1ResponseParser (src/proxy), with the
// request's rules.
//
// Why our own: node:http's server builds an IncomingMessage (a Readable) and a ServerResponse
// (a Writable-like OutgoingMessage) per request and crosses from llhttp into JS per header
// batch; on this proxy's hot path that was the largest cost left. Here the head is scanned once
// in a byte loop, names and values are sliced from one latin1 decode, and both `rawHeaders`
// and node's `headers` object are built in the same pass.
//
// Strictness, chosen for a proxy that forwards what it parses, and checked against llhttp
// (node:http's parser) by test/server/h1-request-parser.fuzz.test.ts, which lists where and why
// we differ:
// - CRLF line ends, as llhttp: a bare LF or a bare CR is an error (RFC 9112 2.2 lets a
//   recipient accept a bare LF; a front end that does not would frame the bytes differently);
// - request-line `method SP request-target SP HTTP/1.x`; method a token, target visible bytes;
//   another version -> 505;
// - obs-fold, whitespace before the colon, a name that is not a token, control bytes in a
//   value: 400;
// - Content-Length digits only; two different values, or Content-Length with
//   Transfer-Encoding: 400 (smuggling signs, RFC 9112 6.3); TE on HTTP/1.0: 400;
//   Transfer-Encoding other than one field saying `chunked`: 501, as Go's server (Knative's
//   queue-proxy) and nginx answer (we would have to forward a coded body without its coding);
// - Host: a second Host field, identical or not, or a byte Go's server refuses: 400 (RFC 9112
//   3.2, Go's "too many Host headers" / "malformed Host header"), so the app, the request log
//   and routing all read the one value;
// - optional whitespace is SP and HTAB only (no trim() of other characters);
// - chunk-size lines: hex digits, then `;ext` or CRLF (no whitespace), extensions as RFC 9112
//   7.1.1 without BWS;
// - head and each trailer section bounded by `maxHeadBytes` -> 431; chunk-size lines bounded.

/** `execute` results. */
export const PARSE_MORE = 0
/** The message is complete: `consumed` bytes of the last buffer belonged to it. */
export const PARSE_DONE = 1
/** Malformed: `errorStatus` and `errorMessage` say how to answer. The connection is done. */
export const PARSE_ERROR = 2
/** The sink returned false. */
export const PARSE_STOPPED = 3

/** Receives what the parser finds. One implementation (H1ServerConnection) keeps calls monomorphic. */
export interface RequestSink {
  /** The head is parsed; its facts are on the parser. Return false to stop parsing. */
  onParsedRequestHead (parser: H1RequestParser): boolean
  /** A slice of body bytes (a view into the socket's buffer). Return false to stop. */
  onParsedRequestBody (chunk: Buffer): boolean
}

const S_HEAD = 0
const S_BODY_LENGTH = 1
const S_DONE = 10
const S_ERROR = 11

const CR = 13
const LF = 10
const SP = 32
const HTAB = 9
const COLON = 58

/** Methods seen on nearly every request: matched as bytes and returned as constants. */
const KNOWN_METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS']

export class H1RequestParser {
  readonly sink: RequestSink
  readonly maxHeadBytes: number
  state: number
  consumed: number
  errorMessage: string
  /** 400, 431 or 505: the status to answer a PARSE_ERROR with. */
  errorStatus: number
  /** Some byte of the next message arrived (an idle connection vs one mid-head). */
  hasStarted: boolean
  remaining: number
  /** Heads and trailer sections, across reads. */
  readonly sections: SectionReader
  chunkLineBytes: number
  chunkDigits: number
  chunkExtState: number
  framingError: string
  // The last head, valid from onParsedRequestHead until the next head starts.
  method: string
  url: string
  httpMinor: number
  rawHeaders: string[]
  headers: IncomingHttpHeaders
  contentLength: number
  /** The first Content-Length value as sent: a repeat must be the same text (Go compares strings: 5 and 05 conflict). */
  contentLengthText: string
  hasTransferEncoding: boolean
  isChunked: boolean
  isConnectionClose: boolean
  isConnectionKeepAlive: boolean
  isConnectionUpgrade: boolean
  hasUpgrade: boolean
  expectContinue: boolean
  /** An Expect other than 100-continue (the server answers 417). */
  expectUnsupported: boolean
  /** A Host field was sent (HTTP/1.1 requires one: the server answers 400 without). */
  hasHost: boolean
  /** Transfer-Encoding fields seen in this head (more than one is refused). */
  transferEncodingCount: number
  /** Trailer fields of a chunked body (into `rawTrailers`), or empty. */
  rawTrailers: string[]

  constructor (sink: RequestSink, maxHeadBytes: number) {
    this.sink = sink
    this.maxHeadBytes = maxHeadBytes
    this.state = S_HEAD
    this.consumed = 0
    this.errorMessage = ''
    this.errorStatus = 400
    this.hasStarted = false
    this.remaining = 0
    this.sections = new SectionReader(maxHeadBytes)
    this.chunkLineBytes = 0
    this.chunkDigits = 0
    this.chunkExtState = 0
    this.framingError = ''
    this.method = ''
    this.url = ''
    this.httpMinor = 1
    this.rawHeaders = EMPTY_LIST
    this.headers = EMPTY_HEADERS
    this.contentLength = -1
    this.contentLengthText = ''
    this.hasTransferEncoding = false
    this.isChunked = false
    this.isConnectionClose = false
    this.isConnectionKeepAlive = false
    this.isConnectionUpgrade = false
    this.hasUpgrade = false
    this.expectContinue = false
    this.expectUnsupported = false
    this.hasHost = false
    this.transferEncodingCount = 0
    this.rawTrailers = EMPTY_LIST
  }

  /** Prepares for the next request on the connection. */
  reset (): void {
    this.state = S_HEAD
    this.consumed = 0
    this.hasStarted = false
    this.remaining = 0
    this.sections.reset()
    this.rawTrailers = EMPTY_LIST
  }

  /**
   * The last head's bytes (a view; for handing the connection to another server), valid from
   * onParsedRequestHead until the next section is read.
   */
  headBytes (): Buffer { return this.sections.section.subarray(this.sections.start, this.sections.stop) }

  get isDone (): boolean { return this.state === S_DONE }
  get isReadingHead (): boolean { return this.state === S_HEAD }
  /** The head is parsed and body bytes are still due. */
  get isReadingBody (): boolean { return this.state !== S_HEAD && this.state !== S_DONE && this.state !== S_ERROR }
  /** HTTP/1.1 keeps the connection unless `close`; HTTP/1.0 only with `keep-alive`. */
  get keepAlive (): boolean {
    return this.httpMinor >= 1 ? !this.isConnectionClose : this.isConnectionKeepAlive && !this.isConnectionClose
  }

  /** Parses buf[off, len). See PARSE_*. After PARSE_DONE the parser stays done until `reset`. */
  execute (buf: Buffer, off: number, len: number): number {
    if (len > off) this.hasStarted = true
    while (off < len) {
      switch (this.state) {
        case S_HEAD:
        case S_TRAILERS: {
          const sections = this.sections
          // Empty lines before a request line are skipped (RFC 9112 2.2).
          if (this.state === S_HEAD && sections.isAtStart) {
            while (off < len && (buf[off] === CR || buf[off] === LF)) off++
            if (off === len) { this.hasStarted = false; this.consumed = off; return PARSE_MORE }
          }
          const end = sections.read(buf, off, len)
          if (end === SECTION_MORE) {
            this.consumed = len // copied by the reader: the caller may drop these bytes
            return PARSE_MORE
          }
          if (end === SECTION_TOO_LARGE) return this.#fail(431, this.state === S_HEAD ? 'request head too large' : 'request trailers too large')
          const section = sections.section
          const start = sections.start
          const stop = sections.stop
          off = end
          if (this.state === S_HEAD) {
            const r = this.#parseHead(section, start, stop)
            this.consumed = off
            if (r !== PARSE_MORE) return r
            if (this.isDone) return PARSE_DONE
          } else {
            const trailers: string[] = []
            const text = section.toString('latin1', start, stop)
            if (!this.#parseFields(section, text, start, start, stop, trailers, null)) return PARSE_ERROR
            this.rawTrailers = trailers
            this.state = S_DONE
            this.consumed = off
            return PARSE_DONE
          }
          break
        }
        case S_BODY_LENGTH: {
          const n = Math.min(this.remaining, len - off)
          const chunk = off === 0 && n === buf.length ? buf : buf.subarray(off, off + n)
          off += n
          this.remaining -= n
          if (this.remaining === 0) this.state = S_DONE
          this.consumed = off
          if (!this.sink.onParsedRequestBody(chunk)) return PARSE_STOPPED
          if (this.state === S_DONE) return PARSE_DONE
          break
        }
        case S_CHUNK_DATA: {
          const n = Math.min(this.remaining, len - off)
          const chunk = off === 0 && n === buf.length ? buf : buf.subarray(off, off + n)
          off += n
          this.remaining -= n
          if (this.remaining === 0) this.state = S_CHUNK_DATA_CR
          this.consumed = off
          if (!this.sink.onParsedRequestBody(chunk)) return PARSE_STOPPED
          break
        }
        case S_CHUNK_SIZE:
        case S_CHUNK_EXT:
        case S_CHUNK_SIZE_LF:
        case S_CHUNK_DATA_CR:
        case S_CHUNK_DATA_LF: {
          const next = consumeChunkFraming(this, buf, off, len)
          if (next < 0) return this.#fail(400, this.framingError)
          off = next
          break
        }
        case S_DONE:
          this.consumed = off
          return PARSE_DONE
        default:
          return PARSE_ERROR
      }
    }
    this.consumed = off
    return this.state === S_DONE ? PARSE_DONE : PARSE_MORE
  }

  #parseHead (b: Buffer, start: number, stop: number): number {
    this.contentLength = -1
    this.contentLengthText = ''
    this.hasTransferEncoding = false
    this.isChunked = false
    this.isConnectionClose = false
    this.isConnectionKeepAlive = false
    this.isConnectionUpgrade = false
    this.hasUpgrade = false
    this.expectContinue = false
    this.expectUnsupported = false
    this.hasHost = false
    this.transferEncodingCount = 0
    // Request line: method SP request-target SP HTTP-version
    const eol = b.indexOf(LF, start)
    if (eol < 0 || eol >= stop || eol === start || b[eol - 1] !== CR) return this.#fail(400, 'bad request line')
    const lineEnd = eol - 1
    let i = start
    while (i < lineEnd && TOKEN[b[i] ?? 0] === 1) i++
    if (i === start || b[i] !== SP) return this.#fail(400, 'bad request method')
    const methodEnd = i
    const targetStart = ++i
    while (i < lineEnd) {
      const c = b[i] ?? 0
      if (c <= SP || c === 127) break
      i++
    }
    if (i === targetStart || b[i] !== SP) return this.#fail(400, 'bad request target')
    const targetEnd = i
    const v = i + 1
    if (lineEnd - v !== 8 ||
        b[v] !== 72 || b[v + 1] !== 84 || b[v + 2] !== 84 || b[v + 3] !== 80 || b[v + 4] !== 47 || // HTTP/
        b[v + 6] !== 46) { // .
      return this.#fail(400, 'bad request line')
    }
    const major = (b[v + 5] ?? 0) - 48
    const minor = (b[v + 7] ?? 0) - 48
    if (major < 0 || major > 9 || minor < 0 || minor > 9) return this.#fail(400, 'bad request line')
    if (major !== 1) return this.#fail(505, 'HTTP version not supported')
    this.httpMinor = minor
    const text = b.toString('latin1', start, stop)
    this.method = knownMethod(b, start, methodEnd - start) ?? text.slice(0, methodEnd - start)
    this.url = text.slice(targetStart - start, targetEnd - start)
    const raw: string[] = []
    const headers: IncomingHttpHeaders = {}
    if (!this.#parseFields(b, text, start, eol + 1, stop, raw, headers)) return PARSE_ERROR
    this.rawHeaders = raw
    this.headers = headers

    if (this.hasTransferEncoding) {
      if (this.contentLength >= 0) return this.#fail(400, 'both content-length and transfer-encoding')
      if (minor === 0) return this.#fail(400, 'transfer-encoding in an HTTP/1.0 request')
      if (!this.isChunked) return this.#fail(501, 'unsupported transfer-encoding')
      startChunks(this)
    } else if (this.contentLength > 0) {
      this.remaining = this.contentLength
      this.state = S_BODY_LENGTH
    } else {
      this.state = S_DONE
    }
    if (!this.sink.onParsedRequestHead(this)) return PARSE_STOPPED
    return PARSE_MORE
  }

  /**
   * Fields in b[start, stop) up to the empty line, into `raw` (names as sent) and, for a head,
   * `out` with node:http's rules (lowercase names; duplicates of a single-value field dropped,
   * `set-cookie` a list, `cookie` joined by "; ", others by ", ").
   */
  #parseFields (b: Buffer, text: string, base: number, start: number, stop: number, raw: string[], out: IncomingHttpHeaders | null): boolean {
    let ls = start
    while (ls < stop) {
      const first = b[ls] ?? 0
      if (first === SP || first === HTAB) { this.#fail(400, 'obsolete line folding in request head'); return false }
      let colon = -1
      let i = ls
      let c = 0
      for (; i < stop; i++) {
        c = b[i] ?? 0
        if (c === COLON || c === LF || c === CR || TOKEN[c] === 0) break
      }
      if (c === COLON) {
        if (i === ls) { this.#fail(400, 'empty header name'); return false }
        colon = i
        i++
      } else if (c === CR && b[i + 1] === LF) {
        if (i !== ls) { this.#fail(400, 'header line without a colon'); return false }
        return true
      } else if (c === LF) {
        this.#fail(400, 'bare LF in request head')
        return false
      } else {
        this.#fail(400, 'invalid header name')
        return false
      }
      for (; i < stop; i++) {
        c = b[i] ?? 0
        if (c === LF) break
        if ((c < SP && c !== HTAB && c !== CR) || c === 127) { this.#fail(400, 'invalid header value'); return false }
        if (c === CR && b[i + 1] !== LF) { this.#fail(400, 'bare CR in request head'); return false }
      }
      if (i >= stop) { this.#fail(400, 'unterminated header line'); return false }
      if (b[i - 1] !== CR) { this.#fail(400, 'bare LF in request head'); return false }
      let ve = i - 1
      let vs = colon + 1
      while (vs < ve && (b[vs] === SP || b[vs] === HTAB)) vs++
      while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--
      const rawName = text.slice(ls - base, colon - base)
      const value = vs < ve ? text.slice(vs - base, ve - base) : ''
      raw.push(rawName, value)
      if (out !== null) {
        const name = matchFieldName(KNOWN_TABLE, b, ls, colon - ls) ?? rawName.toLowerCase()
        if (!this.#noteFraming(name, value, b, vs, ve)) return false
        addField(out, name, value)
      } else if (!this.#noteTrailer(b, ls, colon - ls, value)) {
        return false
      }
      ls = i + 1
    }
    this.#fail(400, 'unterminated request head')
    return false
  }

  /**
   * A trailer field, as llhttp reads trailers: Content-Length or Transfer-Encoding there is an
   * error (a second framing for a message already framed), and `Connection: close` there ends
   * the connection after this request. Other fields are only collected.
   */
  #noteTrailer (b: Buffer, start: number, len: number, value: string): boolean {
    const name = matchFieldName(TRAILER_FRAMING_TABLE, b, start, len)
    if (name === null) return true
    if (name !== 'connection') { this.#fail(400, 'framing field in trailers'); return false }
    return this.#noteFraming(name, value, b, 0, 0)
  }

  /** `value` is b[vs, ve) (the bytes are scanned where a table check is cheaper on the buffer). */
  #noteFraming (name: string, value: string, b: Buffer, vs: number, ve: number): boolean {
    switch (name.length) {
      case 14:
        if (name === 'content-length') {
          const n = parseContentLength(value)
          if (n < 0) { this.#fail(400, 'invalid content-length'); return false }
          if (this.contentLength >= 0 && this.contentLengthText !== value) { this.#fail(400, 'conflicting content-length'); return false }
          this.contentLength = n
          this.contentLengthText = value
        }
        return true
      case 17:
        if (name === 'transfer-encoding') {
          this.hasTransferEncoding = true
          // One field, exactly `chunked` (Go's parseTransferEncoding): a second field or another
          // coding leaves isChunked false, and the head is refused.
          this.isChunked = ++this.transferEncodingCount === 1 && isChunkedOnly(value) && !hasHtabAfterValue(b, ve)
        }
        return true
      case 10:
        if (name === 'connection') {
          const v = value.toLowerCase()
          if (v === 'close') this.isConnectionClose = true
          else if (v === 'keep-alive') this.isConnectionKeepAlive = true
          else if (v === 'upgrade') this.isConnectionUpgrade = true
          else if (v !== '') {
            const tokens = v.split(',')
            for (let i = 0; i < tokens.length; i++) {
              const t = trimOws(tokens[i] ?? '')
              if (t === 'close') this.isConnectionClose = true
              else if (t === 'keep-alive') this.isConnectionKeepAlive = true
              else if (t === 'upgrade') this.isConnectionUpgrade = true
            }
          }
        }
        return true
      case 7:
        if (name === 'upgrade') this.hasUpgrade = true
        return true
      case 6:
        if (name === 'expect') {
          if (value.toLowerCase() === '100-continue') this.expectContinue = true
          else this.expectUnsupported = true
        }
        return true
      case 4:
        if (name === 'host') {
          if (this.hasHost) { this.#fail(400, 'too many Host headers'); return false }
          if (!isValidHostBytes(b, vs, ve)) { this.#fail(400, 'malformed Host header'); return false }
          this.hasHost = true
        }
        return true
      default:
        return true
    }
  }

  #fail (status: number, message: string): number {
    this.state = S_ERROR
    this.errorStatus = status
    this.errorMessage = message
    return PARSE_ERROR
  }
}

const EMPTY_LIST: string[] = []
const EMPTY_HEADERS: IncomingHttpHeaders = {}

/** node:http keeps the first of these and drops later duplicates (lib/_http_incoming.js). */
const SINGLE_VALUE = new Set([
  'content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization', 'proxy-authorization',
  'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag',
  'last-modified', 'server', 'age', 'expires',
])

function addField (out: IncomingHttpHeaders, name: string, value: string): void {
  const prev = out[name]
  if (prev === undefined) {
    out[name] = name === 'set-cookie' ? [value] : value
  } else if (Array.isArray(prev)) {
    prev.push(value)
  } else if (!SINGLE_VALUE.has(name)) {
    out[name] = prev + (name === 'cookie' ? '; ' : ', ') + value
  }
}

/** Common request field names, lowercase: matched in the buffer as constants (matchFieldName). */
const KNOWN_NAMES = [
  'host', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'connection', 'content-length',
  'content-type', 'cookie', 'authorization', 'cache-control', 'pragma', 'referer', 'origin', 'upgrade',
  'transfer-encoding', 'expect', 'te', 'if-none-match', 'if-modified-since', 'range', 'forwarded',
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', 'x-real-ip', 'traceparent',
  'tracestate', 'k-proxy-request', 'k-original-host', 'k-network-probe', 'k-network-hash', 'k-kubelet-probe',
  'knative-serving-revision', 'knative-serving-namespace', 'grpc-timeout', 'sec-websocket-key',
  'sec-websocket-version', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled',
]
const KNOWN_TABLE = fieldNameTable(KNOWN_NAMES)
const TRAILER_FRAMING_TABLE = fieldNameTable(['content-length', 'transfer-encoding', 'connection'])

function knownMethod (b: Buffer, start: number, len: number): string | null {
  next: for (let k = 0; k < KNOWN_METHODS.length; k++) {
    const m = KNOWN_METHODS[k] ?? ''
    if (m.length !== len) continue
    for (let j = 0; j < len; j++) if (b[start + j] !== m.charCodeAt(j)) continue next
    return m
  }
  return null
}
