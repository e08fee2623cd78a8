import type { IncomingHttpHeaders } from 'node:http'
import { consumeChunkFraming, S_CHUNK_DATA, S_CHUNK_DATA_CR, S_CHUNK_DATA_LF, S_CHUNK_EXT, S_CHUNK_SIZE, S_CHUNK_SIZE_LF, S_TRAILERS, startChunks } from '../shared/chunked-framing.ts'
import { SECTION_MORE, SECTION_TOO_LARGE, SectionReader } from '../shared/section-reader.ts'
import { fieldNameTable, hasHtabAfterValue, isChunkedOnly, matchFieldName, parseContentLength, TOKEN, trimOws } from '../shared/http-syntax.ts'

// An incremental HTTP/1.1 response parser (RFC 9112) for H1Upstream: status line, header
// fields, and body framing by Content-Length, chunked (extensions and trailers), or the end of
// the connection. It is fed the socket's buffers as they come and hands body bytes on as slices
// of those buffers (never copied). Only a head or a trailer section that straddles two reads is
// copied (shared/section-reader.ts, bounded).
//
// Why our own: undici's llhttp (wasm) calls back into JS per header name and per value and
// builds the headers twice (raw list, then object). Here the head is scanned once in a byte
// loop, names and values are sliced straight out of the buffer, and the object the exchange
// wants is built in the same pass.
//
// Strictness, chosen for a proxy that forwards what it parses, and checked against llhttp's
// response mode by test/proxy/h1-response-parser.fuzz.test.ts (which lists where and why we
// differ):
// - line ends are CRLF, as llhttp: a bare LF or a bare CR is an error;
// - optional whitespace is SP and HTAB only (no trim() of other characters);
// - obs-fold (a line starting with SP/HTAB), whitespace before the colon, a name that is not a
//   token, control bytes in a value: errors;
// - Content-Length must be digits; two different values, or Content-Length with
//   Transfer-Encoding, are errors (smuggling signs, RFC 9112 6.3);
// - Transfer-Encoding other than one field saying `chunked` (HTAB after it included): an
//   error, as Go's client (Knative's activator and queue-proxy) answers 502. RFC 9112 6.3 would
//   read `gzip` until close and `gzip, chunked` as chunked, but the proxy drops Transfer-Encoding
//   as hop-by-hop, so the client would get a coded body without the coding;
// - Content-Length or Transfer-Encoding in the trailers: an error; `Connection: close` there
//   ends the connection (as llhttp);
// - 1xx responses other than 101 are skipped (100 Continue, 103 Early Hints); 101 is an error (we
//   never ask to upgrade on this path); HEAD, 204, 304 have no body;
// - the head and each trailer section are bounded by `maxHeadBytes`, a chunk-size line too.

export type ResponseHeaders = IncomingHttpHeaders

/** Receives what the parser finds. One implementation (H1Connection) keeps the calls monomorphic. */
export interface ResponseSink {
  /** The final (non-1xx) head. Return false to stop parsing (the request was aborted). */
  onParsedHead (statusCode: number, statusText: string, headers: ResponseHeaders): boolean
  /** A slice of body bytes (a view into the socket's buffer). Return false to stop. */
  onParsedBody (chunk: Buffer): boolean
}

/** `execute` results. */
export const PARSE_MORE = 0
/** The message is complete: `consumed` bytes of the last buffer belonged to it; see `keepAlive`, `trailers`. */
export const PARSE_DONE = 1
/** Malformed: `errorMessage` says why. The connection cannot be used any more. */
export const PARSE_ERROR = 2
/** The sink returned false. */
export const PARSE_STOPPED = 3

const S_HEAD = 0
const S_BODY_LENGTH = 1
const S_BODY_CLOSE = 2
const S_DONE = 10
const S_ERROR = 11

const CR = 13
const LF = 10
const SP = 32
const HTAB = 9
const COLON = 58

export class H1ResponseParser {
  readonly sink: ResponseSink
  readonly maxHeadBytes: number
  state: number
  /** The request was HEAD: the response has no body whatever its headers say. */
  isHeadRequest: boolean
  /** After PARSE_DONE: the server lets us send another request on this connection. */
  keepAlive: boolean
  /** After PARSE_DONE: bytes of the last buffer that belonged to the message. */
  consumed: number
  /** After PARSE_DONE: trailer fields of a chunked response, or null. */
  trailers: ResponseHeaders | null
  /** After PARSE_ERROR. */
  errorMessage: string
  /** Some byte of this response arrived (tells a reset before any answer from one mid-head). */
  hasStarted: boolean
  /** Body bytes left: of the Content-Length body, or of the current chunk. */
  remaining: number
  /** Heads and trailer sections, across reads. */
  readonly sections: SectionReader
  /** Bytes of the current chunk-size line (digits and extension), bounded. */
  chunkLineBytes: number
  chunkDigits: number
  chunkExtState: number
  framingError: string
  // Framing facts gathered while reading the head.
  contentLength: number
  /** The first Content-Length value as sent: a repeat must be the same text (Go compares strings: 5 and 05 conflict). */
  contentLengthText: string
  hasTransferEncoding: boolean
  isChunked: boolean
  /** Transfer-Encoding fields seen in this head. */
  transferEncodingCount: number
  isConnectionClose: boolean
  isConnectionKeepAlive: boolean
  httpMinor: number

  constructor (sink: ResponseSink, maxHeadBytes: number) {
    this.sink = sink
    this.maxHeadBytes = maxHeadBytes
    this.state = S_DONE
    this.isHeadRequest = false
    this.keepAlive = false
    this.consumed = 0
    this.trailers = null
    this.errorMessage = ''
    this.hasStarted = false
    this.remaining = 0
    this.sections = new SectionReader(maxHeadBytes)
    this.chunkLineBytes = 0
    this.chunkDigits = 0
    this.chunkExtState = 0
    this.framingError = ''
    this.contentLength = -1
    this.contentLengthText = ''
    this.hasTransferEncoding = false
    this.isChunked = false
    this.transferEncodingCount = 0
    this.isConnectionClose = false
    this.isConnectionKeepAlive = false
    this.httpMinor = 1
  }

  /** Prepares for the response to the next request. */
  reset (isHeadRequest: boolean): void {
    this.state = S_HEAD
    this.isHeadRequest = isHeadRequest
    this.keepAlive = false
    this.consumed = 0
    this.trailers = null
    this.errorMessage = ''
    this.hasStarted = false
    this.remaining = 0
    this.sections.reset()
    this.#resetHeadFacts()
  }

  get isDone (): boolean { return this.state === S_DONE }
  /** The body runs until the connection closes: EOF completes the message. */
  get isReadingUntilClose (): boolean { return this.state === S_BODY_CLOSE }

  /**
   * The connection reached EOF. True when that completes the message (a close-delimited body);
   * false when the response is cut short.
   */
  finish (): boolean {
    if (this.state === S_BODY_CLOSE) {
      this.state = S_DONE
      this.keepAlive = false
      return true
    }
    return this.state === S_DONE
  }

  /**
   * Parses buf[0, len) (a read may fill only part of its buffer). See PARSE_*. After
   * PARSE_DONE the parser stays done until `reset`.
   */
  execute (buf: Buffer, len: number): number {
    let off = 0
    if (len > 0) this.hasStarted = true
    while (off < len) {
      switch (this.state) {
        case S_HEAD:
        case S_TRAILERS: {
          const sections = this.sections
          const end = sections.read(buf, off, len)
          if (end === SECTION_MORE) return PARSE_MORE
          if (end === SECTION_TOO_LARGE) return this.#fail(this.state === S_HEAD ? 'response head too large' : 'response trailers too large')
          // `end` is the index just past the LF of the empty line.
          const section = sections.section
          const start = sections.start
          const stop = sections.stop
          off = end
          if (this.state === S_HEAD) {
            const r = this.#parseHead(section, start, stop)
            if (r !== PARSE_MORE) { this.consumed = off; return r }
          } else {
            const trailers: ResponseHeaders = {}
            const text = section.toString('latin1', start, stop)
            if (!this.#parseFields(section, text, start, start, stop, trailers, true)) return PARSE_ERROR
            this.trailers = countKeys(trailers) > 0 ? trailers : null
            this.state = S_DONE
            this.consumed = off
            return PARSE_DONE
          }
          break
        }
        case S_BODY_LENGTH: {
          const n = Math.min(this.remaining, len - off)
          const chunk = n === buf.length ? buf : buf.subarray(off, off + n)
          off += n
          this.remaining -= n
          if (this.remaining === 0) this.state = S_DONE
          if (!this.sink.onParsedBody(chunk)) return PARSE_STOPPED
          if (this.state === S_DONE) { this.consumed = off; return PARSE_DONE }
          break
        }
        case S_BODY_CLOSE: {
          const chunk = off === 0 && len === buf.length ? buf : buf.subarray(off, len)
          off = len
          if (!this.sink.onParsedBody(chunk)) return PARSE_STOPPED
          break
        }
        case S_CHUNK_DATA: {
          const n = Math.min(this.remaining, len - off)
          const chunk = n === buf.length ? buf : buf.subarray(off, off + n)
          off += n
          this.remaining -= n
          if (this.remaining === 0) this.state = S_CHUNK_DATA_CR
          if (!this.sink.onParsedBody(chunk)) return PARSE_STOPPED
          break
        }
        case S_CHUNK_SIZE:
        case S_CHUNK_EXT:
        case S_CHUNK_SIZE_LF:
        case S_CHUNK_DATA_CR:
        case S_CHUNK_DATA_LF: {
          const next = consumeChunkFraming(this, buf, off, len)
          if (next < 0) return this.#fail(this.framingError)
          off = next
          break
        }
        case S_DONE:
          // Bytes after the end of the message: the caller sees consumed < length.
          this.consumed = off
          return PARSE_DONE
        default:
          return PARSE_ERROR
      }
    }
    if (this.state === S_DONE) { this.consumed = off; return PARSE_DONE }
    return PARSE_MORE
  }

  // --- heads and trailer sections ------------------------------------------------------------

  #resetHeadFacts (): void {
    this.contentLength = -1
    this.contentLengthText = ''
    this.hasTransferEncoding = false
    this.isChunked = false
    this.transferEncodingCount = 0
    this.isConnectionClose = false
    this.isConnectionKeepAlive = false
    this.httpMinor = 1
  }

  /** Parses one head in b[start, stop) (stop is just past the final LF) and sets up the body. */
  #parseHead (b: Buffer, start: number, stop: number): number {
    // Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
    const eol = b.indexOf(LF, start)
    if (eol < 0 || eol >= stop || eol === start || b[eol - 1] !== CR) return this.#fail('bad status line')
    const lineEnd = eol - 1
    if (lineEnd - start < 12 ||
        b[start] !== 72 || b[start + 1] !== 84 || b[start + 2] !== 84 || b[start + 3] !== 80 || // HTTP
        b[start + 4] !== 47 || b[start + 5] !== 49 || b[start + 6] !== 46 || // /1.
        b[start + 8] !== SP) {
      return this.#fail('bad status line')
    }
    const minor = (b[start + 7] ?? 0) - 48
    const d0 = (b[start + 9] ?? 0) - 48
    const d1 = (b[start + 10] ?? 0) - 48
    const d2 = (b[start + 11] ?? 0) - 48
    if (minor < 0 || minor > 9 || d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.#fail('bad status line')
    if (lineEnd > start + 12 && b[start + 12] !== SP) return this.#fail('bad status line')
    for (let i = start + 13; i < lineEnd; i++) {
      const c = b[i] ?? 0
      if ((c < SP && c !== HTAB) || c === 127) return this.#fail('bad status line')
    }
    const statusCode = d0 * 100 + d1 * 10 + d2
    // One native call decodes the whole head; names and values are JS slices of it.
    const text = b.toString('latin1', start, stop)
    const statusText = lineEnd > start + 13 ? text.slice(13, lineEnd - start) : ''
    this.httpMinor = minor
    const headers: ResponseHeaders = {}
    if (!this.#parseFields(b, text, start, eol + 1, stop, headers, false)) return PARSE_ERROR

    if (statusCode < 200) {
      if (statusCode === 101) return this.#fail('unexpected 101 Switching Protocols')
      // 100 Continue, 102, 103 Early Hints: informational, the real head follows.
      this.#resetHeadFacts()
      this.state = S_HEAD
      return PARSE_MORE
    }
    if (this.contentLength >= 0 && this.hasTransferEncoding) return this.#fail('both content-length and transfer-encoding')
    if (this.hasTransferEncoding && minor === 0) return this.#fail('transfer-encoding in an HTTP/1.0 response')
    // Checked whether or not this response has a body (a HEAD, 204 or 304 answer), as Go's client does.
    if (this.hasTransferEncoding && !this.isChunked) return this.#fail('unsupported transfer-encoding')
    this.keepAlive = minor >= 1 ? !this.isConnectionClose : this.isConnectionKeepAlive && !this.isConnectionClose
    if (this.isHeadRequest || statusCode === 204 || statusCode === 304) {
      this.state = S_DONE
    } else if (this.isChunked) {
      startChunks(this)
    } else if (this.contentLength >= 0) {
      this.remaining = this.contentLength
      this.state = this.contentLength === 0 ? S_DONE : S_BODY_LENGTH
    } else {
      this.state = S_BODY_CLOSE
      this.keepAlive = false
    }
    if (!this.sink.onParsedHead(statusCode, statusText, headers)) return PARSE_STOPPED
    return PARSE_MORE
  }

  /**
   * Header (or trailer) fields in b[start, stop), one per line, ending with the empty line.
   * Validates names and values in the same pass that finds them. `text` is the section decoded
   * as latin1 from b[base]: bytes are scanned in `b`, strings are sliced from `text`.
   */
  #parseFields (b: Buffer, text: string, base: number, start: number, stop: number, out: ResponseHeaders, isTrailer: boolean): boolean {
    let ls = start
    while (ls < stop) {
      const first = b[ls] ?? 0
      if (first === SP || first === HTAB) { this.#fail('obsolete line folding in response head'); return false }
      let colon = -1
      let i = ls
      let c = 0
      // Name: tchars up to the colon.
      for (; i < stop; i++) {
        c = b[i] ?? 0
        if (c === COLON || c === LF || c === CR || TOKEN[c] === 0) break
      }
      if (c === COLON) {
        if (i === ls) { this.#fail('empty header name'); return false }
        colon = i
        i++
      } else if (c === CR && b[i + 1] === LF) {
        if (i !== ls) { this.#fail('header line without a colon'); return false }
        return true // the empty line: end of section
      } else if (c === LF) {
        this.#fail('bare LF in response head')
        return false
      } else {
        this.#fail('invalid header name')
        return false
      }
      // Value: up to the line end; no CTL except HTAB; a CR only right before the LF.
      for (; i < stop; i++) {
        c = b[i] ?? 0
        if (c === LF) break
        if ((c < SP && c !== HTAB && c !== CR) || c === 127) { this.#fail('invalid header value'); return false }
        if (c === CR && b[i + 1] !== LF) { this.#fail('bare CR in response head'); return false }
      }
      if (i >= stop) { this.#fail('unterminated header line'); return false }
      if (b[i - 1] !== CR) { this.#fail('bare LF in response head'); return false }
      let ve = i - 1
      let vs = colon + 1
      while (vs < ve && (b[vs] === SP || b[vs] === HTAB)) vs++
      while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--
      const name = matchFieldName(KNOWN_TABLE, b, ls, colon - ls) ?? text.slice(ls - base, colon - base).toLowerCase()
      const value = vs < ve ? text.slice(vs - base, ve - base) : ''
      if (isTrailer ? !this.#noteTrailer(name, value, b, ve) : !this.#noteFraming(name, value, b, ve)) return false
      const prev = out[name]
      if (prev === undefined) {
        out[name] = name === 'set-cookie' ? [value] : value
      } else if (typeof prev === 'string') {
        out[name] = [prev, value]
      } else {
        prev.push(value)
      }
      ls = i + 1
    }
    this.#fail('unterminated response head')
    return false
  }

  /**
   * A trailer field, as llhttp reads trailers: Content-Length or Transfer-Encoding there is an
   * error (a second framing for a message already framed); `Connection: close` there means the
   * connection is not reused.
   */
  #noteTrailer (name: string, value: string, b: Buffer, ve: number): boolean {
    if (name === 'content-length' || name === 'transfer-encoding') { this.#fail('framing field in trailers'); return false }
    if (name === 'connection' && !this.#noteFraming(name, value, b, ve)) return false
    if (this.isConnectionClose) this.keepAlive = false
    return true
  }

  /** Picks up the fields that decide framing and connection reuse. */
  /** `value` ends at b[ve] (trimmed). */
  #noteFraming (name: string, value: string, b: Buffer, ve: number): boolean {
    switch (name.length) {
      case 14:
        if (name === 'content-length') {
          const n = parseContentLength(value)
          if (n < 0) { this.#fail('invalid content-length'); return false }
          if (this.contentLength >= 0 && this.contentLengthText !== value) { this.#fail('conflicting content-length'); return false }
          this.contentLength = n
          this.contentLengthText = value
        }
        return true
      case 17:
        if (name === 'transfer-encoding') {
          this.hasTransferEncoding = true
          // One field, exactly `chunked` (Go's parseTransferEncoding); anything else is refused.
          this.isChunked = ++this.transferEncodingCount === 1 && isChunkedOnly(value) && !hasHtabAfterValue(b, ve)
        }
        return true
      case 10:
        if (name === 'connection') {
          const v = value.toLowerCase()
          if (v === 'close') this.isConnectionClose = true
          else if (v === 'keep-alive') this.isConnectionKeepAlive = true
          else if (v !== '') {
            const tokens = v.split(',')
            for (let i = 0; i < tokens.length; i++) {
              const t = trimOws(tokens[i] ?? '')
              if (t === 'close') this.isConnectionClose = true
              else if (t === 'keep-alive') this.isConnectionKeepAlive = true
            }
          }
        }
        return true
      default:
        return true
    }
  }

  #fail (message: string): number {
    this.state = S_ERROR
    this.errorMessage = message
    this.keepAlive = false
    return PARSE_ERROR
  }
}

/**
 * Common response field names, lowercase. A name that matches one (case-insensitively) is
 * returned as this constant: no slice, no toLowerCase, and the property store on the headers
 * object finds an internalized key instead of looking the new string up in V8's string table.
 */
const KNOWN_NAMES = [
  'content-length', 'content-type', 'date', 'server', 'connection', 'keep-alive', 'transfer-encoding',
  'set-cookie', 'cache-control', 'etag', 'last-modified', 'vary', 'location', 'expires', 'content-encoding',
  'accept-ranges', 'age', 'pragma', 'trailer', 'via', 'link', 'x-powered-by', 'x-request-id',
  'x-content-type-options', 'x-frame-options', 'strict-transport-security', 'content-security-policy',
  'referrer-policy', 'access-control-allow-origin', 'access-control-allow-credentials', 'content-language',
  'content-disposition', 'retry-after', 'www-authenticate', 'alt-svc', 'grpc-status', 'grpc-message',
  'server-timing',
]
const KNOWN_TABLE = fieldNameTable(KNOWN_NAMES)


function countKeys (o: object): number {
  let n = 0
  for (const _ in o) n++
  return n
}
