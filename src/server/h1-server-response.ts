import { EventEmitter } from 'node:events'
import type { OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http'
import { STATUS_CODES } from '../shared/status-codes.ts'
import { ResponseHeadError } from '../shared/errors.ts'
import { httpDate } from '../shared/utc-time.ts'

// The response to one H1Server request: the subset of node's ServerResponse the handlers use
// (writeHead with a flat list or an object, write, end, flushHeaders, addTrailers, destroy,
// 'drain', 'close'), written straight to the socket.
//
// The head is rendered at writeHead but framed late: the first write, flushHeaders or end
// decides between Content-Length (given, or known at end), chunked (HTTP/1.1) and
// close-delimited (HTTP/1.0), and a small body leaves in the same write as its head.
//
// Events: 'drain' after a write returned false; 'close' only when the connection ends before
// the response did (node's ServerResponse also emits it after a finished response; nothing
// here needs that, and not emitting it saves a tick per request).

/** What the response needs of its connection (H1ServerConnection). */
export interface ResponseConnection {
  /** The socket is gone or going: writes are dropped. */
  readonly isClosed: boolean
  /** Writes bytes; false when the socket's buffer is full ('drain' follows). */
  writeOut (data: Buffer | string): boolean
  /** Writes several pieces as one (cork/uncork). */
  writeOutv (a: Buffer | string, b: Buffer | string, c: Buffer | string | null): boolean
  /** Bytes are queued on the socket (the last write did not go out whole). */
  readonly hasPendingWrites: boolean
  onResponseEnd (res: H1ServerResponse): void
  destroyFromResponse (err: Error | undefined): void
}


const FRAME_UNDECIDED = 0
const FRAME_LENGTH = 1
const FRAME_CHUNKED = 2
const FRAME_CLOSE = 3
const FRAME_NONE = 4

/** A body up to this size is copied next to its head or chunk framing: one write, one syscall. */
const COPY_LIMIT = 16 * 1024
const CRLF = '\r\n'
const LAST_CHUNK = '0\r\n\r\n'

let dateSecond = -1
let dateValue = ''
function cachedHttpDate (): string {
  const now = Date.now()
  const second = Math.floor(now / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateValue = httpDate(now)
  }
  return dateValue
}

export class H1ServerResponse extends EventEmitter {
  readonly conn: ResponseConnection
  readonly isHeadRequest: boolean
  readonly httpMinor: number
  /** The connection may carry another request after this response (the request allowed it). */
  keepAlive: boolean
  statusCode: number
  headersSent: boolean
  /** end() was called. */
  writableEnded: boolean
  /** Rendered status line and fields, without framing fields and the final CRLF; null once written. */
  head: string | null
  frame: number
  contentLength: number
  trailers: string | null
  /** The client went away before the response ended. */
  isAborted: boolean
  /** The last write() handed its chunk to the socket as is and the socket still queues it. */
  holdsLastChunk: boolean

  constructor (conn: ResponseConnection, isHeadRequest: boolean, httpMinor: number, keepAlive: boolean) {
    super()
    this.conn = conn
    this.isHeadRequest = isHeadRequest
    this.httpMinor = httpMinor
    this.keepAlive = keepAlive
    this.statusCode = 200
    this.headersSent = false
    this.writableEnded = false
    this.head = null
    this.frame = FRAME_UNDECIDED
    this.contentLength = -1
    this.trailers = null
    this.isAborted = false
    this.holdsLastChunk = false
  }

  get destroyed (): boolean { return this.isAborted || this.conn.isClosed }
  get finished (): boolean { return this.writableEnded }

  writeHead (statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
    if (this.headersSent) throw new ResponseHeadError('response head already written')
    if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 999) throw new ResponseHeadError(`invalid status code ${String(statusCode)}`)
    // #field may throw (CR/LF, bad content-length): nothing counts as sent until the head is whole,
    // so the caller can still answer with another head, as with node:http.
    this.contentLength = -1
    let head = `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'unknown'}\r\n`
    let hasDate = false
    if (Array.isArray(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2) {
        const name = String(headers[i])
        const value = headers[i + 1]
        if (Array.isArray(value)) {
          for (let j = 0; j < value.length; j++) head += this.#field(name, String(value[j]))
        } else if (value !== undefined) {
          head += this.#field(name, String(value))
        }
        if (name.length === 4 && name.toLowerCase() === 'date') hasDate = true
      }
    } else if (headers !== undefined) {
      for (const name in headers) {
        const value = headers[name]
        if (value === undefined) continue
        if (Array.isArray(value)) for (let j = 0; j < value.length; j++) head += this.#field(name, String(value[j]))
        else head += this.#field(name, String(value))
        if (name.length === 4 && name.toLowerCase() === 'date') hasDate = true
      }
    }
    if (!hasDate) head += 'date: ' + cachedHttpDate() + CRLF
    this.statusCode = statusCode
    this.headersSent = true
    this.head = head
    if (this.isHeadRequest || statusCode === 204 || statusCode === 304 || statusCode < 200) this.frame = FRAME_NONE
    return this
  }

  /** Renders one field; framing and connection fields are noted and left to the framing step. */
  #field (name: string, value: string): string {
    if (value.includes('\r') || value.includes('\n') || name.includes('\r') || name.includes('\n') || name.includes(':')) throw new ResponseHeadError(`invalid value for header ${JSON.stringify(name)}`)
    switch (name.length) {
      case 14:
        if (name.toLowerCase() === 'content-length') {
          const n = Number(value)
          if (!Number.isSafeInteger(n) || n < 0) throw new ResponseHeadError('invalid content-length')
          this.contentLength = n
          return ''
        }
        break
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return '' // we frame the body ourselves
        break
      case 10:
        if (name.toLowerCase() === 'connection') {
          if (value.toLowerCase().includes('close')) this.keepAlive = false
          return ''
        }
        break
    }
    return name + ': ' + value + CRLF
  }

  /** Picks the framing (once) and returns the head's last lines, ending with the empty line. */
  #frameHead (endLength: number): string {
    let tail = ''
    if (this.frame === FRAME_NONE) {
      if (this.contentLength >= 0) tail = 'content-length: ' + String(this.contentLength) + CRLF
    } else if (this.contentLength >= 0) {
      this.frame = FRAME_LENGTH
      tail = 'content-length: ' + String(this.contentLength) + CRLF
    } else if (endLength >= 0) {
      // end() before any write: the whole body is known.
      this.frame = FRAME_LENGTH
      this.contentLength = endLength
      tail = 'content-length: ' + String(endLength) + CRLF
    } else if (this.httpMinor >= 1) {
      this.frame = FRAME_CHUNKED
      tail = 'transfer-encoding: chunked\r\n'
    } else {
      this.frame = FRAME_CLOSE
      this.keepAlive = false
    }
    if (!this.keepAlive) tail += 'connection: close\r\n'
    else if (this.httpMinor === 0) tail += 'connection: keep-alive\r\n'
    const head = (this.head ?? '') + tail + CRLF
    this.head = null
    return head
  }

  flushHeaders (): void {
    if (!this.headersSent) this.writeHead(this.statusCode)
    if (this.head === null) return
    this.conn.writeOut(this.#frameHead(-1))
  }

  write (chunk: Uint8Array): boolean {
    this.holdsLastChunk = false
    if (this.writableEnded) return false
    if (!this.headersSent) this.writeHead(this.statusCode)
    const head = this.head === null ? null : this.#frameHead(-1)
    const body = toBuffer(chunk)
    if (this.frame === FRAME_NONE || body.length === 0) return head === null ? true : this.conn.writeOut(head)
    if (this.frame === FRAME_CHUNKED) {
      const size = body.length.toString(16) + CRLF
      const prefix = head === null ? size : head + size
      if (body.length <= COPY_LIMIT) return this.conn.writeOut(joinLatin1(prefix, body, CRLF))
      return this.#written(this.conn.writeOutv(prefix, body, CRLF))
    }
    if (head !== null && body.length <= COPY_LIMIT) return this.conn.writeOut(joinLatin1(head, body, ''))
    return this.#written(head === null ? this.conn.writeOut(body) : this.conn.writeOutv(head, body, null))
  }

  /** After a write that passed the chunk itself: the socket holds it while anything is queued. */
  #written (ok: boolean): boolean {
    this.holdsLastChunk = this.conn.hasPendingWrites
    return ok
  }

  end (chunk?: Uint8Array): this {
    if (this.writableEnded) return this
    if (!this.headersSent) this.writeHead(this.statusCode)
    const body = chunk === undefined ? null : toBuffer(chunk)
    const head = this.head === null ? null : this.#frameHead(body === null ? 0 : body.length)
    this.writableEnded = true
    const tail = this.frame === FRAME_CHUNKED ? (this.trailers === null ? LAST_CHUNK : '0\r\n' + this.trailers + CRLF) : ''
    if (body !== null && body.length > 0 && this.frame !== FRAME_NONE) {
      if (this.frame === FRAME_CHUNKED) {
        const prefix = (head ?? '') + body.length.toString(16) + CRLF
        if (body.length <= COPY_LIMIT) this.conn.writeOut(joinLatin1(prefix, body, CRLF + tail))
        else this.conn.writeOutv(prefix, body, CRLF + tail)
      } else if (head === null) {
        this.conn.writeOut(body)
      } else if (body.length <= COPY_LIMIT) {
        this.conn.writeOut(joinLatin1(head, body, ''))
      } else {
        this.conn.writeOutv(head, body, null)
      }
    } else {
      const text = (head ?? '') + tail
      if (text !== '') this.conn.writeOut(text)
    }
    this.conn.onResponseEnd(this)
    return this
  }

  addTrailers (headers: OutgoingHttpHeaders | ReadonlyArray<[string, string]>): void {
    let out = this.trailers ?? ''
    if (Array.isArray(headers)) {
      for (const pair of headers as ReadonlyArray<[string, string]>) out += this.#trailer(pair[0], pair[1])
    } else {
      const h = headers as OutgoingHttpHeaders
      for (const name in h) {
        const value = h[name]
        if (value === undefined) continue
        if (Array.isArray(value)) for (const v of value) out += this.#trailer(name, String(v))
        else out += this.#trailer(name, String(value))
      }
    }
    this.trailers = out
  }

  #trailer (name: string, value: string): string {
    if (value.includes('\r') || value.includes('\n') || name.includes('\r') || name.includes('\n')) {
      throw new ResponseHeadError(`invalid trailer ${JSON.stringify(name)}`)
    }
    return name + ': ' + value + CRLF
  }

  destroy (err?: Error): this {
    this.conn.destroyFromResponse(err)
    return this
  }
}

function toBuffer (chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
}

/** prefix (latin1) + body + suffix (latin1) in one buffer. */
function joinLatin1 (prefix: string, body: Buffer, suffix: string): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + body.length + suffix.length)
  out.write(prefix, 0, 'latin1')
  body.copy(out, prefix.length)
  if (suffix.length > 0) out.write(suffix, prefix.length + body.length, 'latin1')
  return out
}
