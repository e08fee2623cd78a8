import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { InvalidUpstreamRequestError } from '../shared/errors.ts'
import type { ResponseHeaders } from './h1-response-parser.ts'
import { isFieldValue, isRequestTarget, isToken, parseContentLength } from '../shared/http-syntax.ts'

// One request through H1Upstream. The object is at once the request's state, its pre-built head
// and the DispatchController the handler holds, so a request costs this one allocation plus its
// head string. Every handler callback goes through here, which makes "exactly one of
// onResponseEnd / onResponseError, and nothing after it" a property of `state` alone.

export const REQ_NEW = 0
/** Waiting in the upstream's FIFO for a free connection. */
export const REQ_QUEUED = 1
/** On a connection, the response has not started. */
export const REQ_SENT = 2
export const REQ_RESPONDING = 3
export const REQ_DONE = 4

export const BODY_NONE = 0
/** A Buffer or string, written with the head (one writev). */
export const BODY_BUFFER = 1
/** A Readable with a Content-Length: bytes pass through as they are. */
export const BODY_STREAM = 2
/** A Readable without a length: chunked transfer coding. */
export const BODY_CHUNKED = 3

/** What a request needs from the upstream while it waits in the queue. */
export interface RequestOwner {
  dequeue (req: H1Request): void
}

/** What a request needs from the connection carrying it. */
export interface RequestConnection {
  /** The request was aborted: destroy the socket (it is never reused). */
  abandon (req: H1Request): void
  pauseReading (): void
  resumeReading (): void
}

/** undici passes a context object to onRequestStart; ours carries nothing. */
const EMPTY_CONTEXT = Object.freeze({})
const NO_TRAILERS: ResponseHeaders = Object.freeze({})

/**
 * A controller that lends response chunks: a handler that calls releaseChunk() inside
 * onResponseData promises it holds no reference to the chunk once the call returns (it copied
 * it, or wrote it out whole), and the connection reads its next bytes into the same memory.
 * A handler that does not call it keeps the chunk for as long as it likes (undici's contract).
 */
export interface ChunkLender {
  releaseChunk (): void
}

export function isChunkLender (controller: object): controller is ChunkLender {
  return 'releaseChunk' in controller
}

export class H1Request implements Dispatcher.DispatchController, ChunkLender {
  // DispatchController (plain fields: the exchange reads `aborted` on every abort)
  aborted: boolean
  paused: boolean
  reason: Error | null
  /** The handler gave back the chunk of the current onResponseData call (ChunkLender). */
  isChunkReleased: boolean

  readonly owner: RequestOwner
  readonly handler: Dispatcher.DispatchHandler
  state: number
  connection: RequestConnection | null
  // FIFO links while queued
  queuePrev: H1Request | null
  queueNext: H1Request | null
  /** Request line and header fields, CRLF-terminated, latin1. */
  head: string
  isHeadMethod: boolean
  /** The request asked for `Connection: close`: do not reuse the socket after it. */
  isCloseRequested: boolean
  hasHost: boolean
  /** From the caller's Content-Length header; -1 = none. */
  contentLength: number
  bodyMode: number
  bodyBuffer: string | Uint8Array | null
  bodyStream: Readable | null
  /** The whole request is on the wire (head and body); before that the socket cannot be reused. */
  isBodySent: boolean

  constructor (owner: RequestOwner, handler: Dispatcher.DispatchHandler) {
    this.aborted = false
    this.paused = false
    this.reason = null
    this.isChunkReleased = false
    this.owner = owner
    this.handler = handler
    this.state = REQ_NEW
    this.connection = null
    this.queuePrev = null
    this.queueNext = null
    this.head = ''
    this.isHeadMethod = false
    this.isCloseRequested = false
    this.hasHost = false
    this.contentLength = -1
    this.bodyMode = BODY_NONE
    this.bodyBuffer = null
    this.bodyStream = null
    this.isBodySent = false
  }

  get isDone (): boolean { return this.state === REQ_DONE }

  /**
   * Builds the head from the dispatch options and picks the body framing. Returns an error
   * (nothing is sent) for a method, path or header that cannot be written safely, or a body that
   * disagrees with its Content-Length.
   */
  prepare (options: Dispatcher.DispatchOptions, defaultHost: string): InvalidUpstreamRequestError | null {
    const method = options.method
    const path = options.path
    if (!isToken(method)) return new InvalidUpstreamRequestError('invalid request method')
    if (method === 'CONNECT' || (options.upgrade !== null && options.upgrade !== undefined)) {
      return new InvalidUpstreamRequestError('CONNECT and upgrade requests are not supported by this client')
    }
    if (!isRequestTarget(path)) return new InvalidUpstreamRequestError('invalid request path')
    this.isHeadMethod = method === 'HEAD'
    this.head = method + ' ' + path + ' HTTP/1.1\r\n'

    const headers = options.headers
    if (Array.isArray(headers)) {
      // The proxy's shape: a flat [name, value, name, value, ...] list of strings.
      const len = headers.length
      if ((len & 1) !== 0) return new InvalidUpstreamRequestError('header list has an odd length')
      for (let i = 0; i < len; i += 2) {
        const name: unknown = headers[i]
        const value: unknown = headers[i + 1]
        if (typeof name !== 'string' || typeof value !== 'string' || !this.#addField(name, value)) {
          return new InvalidUpstreamRequestError('invalid header field')
        }
      }
    } else if (isRecord(headers)) {
      const record = headers
      for (const name in record) {
        const value = record[name]
        if (value === undefined) continue
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length; i++) {
            const v: unknown = value[i]
            if (typeof v !== 'string' || !this.#addField(name, v)) return new InvalidUpstreamRequestError('invalid header field')
          }
        } else if (typeof value !== 'string' || !this.#addField(name, value)) {
          return new InvalidUpstreamRequestError('invalid header field')
        }
      }
    } else if (headers !== null && headers !== undefined) {
      return new InvalidUpstreamRequestError('unsupported header list type')
    }
    if (this.contentLength === -2) return new InvalidUpstreamRequestError('invalid content-length')
    if (!this.hasHost) this.head += 'host: ' + defaultHost + '\r\n'

    const body = options.body
    if (body === null || body === undefined) {
      if (this.contentLength > 0) return new InvalidUpstreamRequestError('content-length without a body')
    } else if (typeof body === 'string' || body instanceof Uint8Array) {
      const n = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength
      if (this.contentLength < 0) this.head += 'content-length: ' + n + '\r\n'
      else if (this.contentLength !== n) return new InvalidUpstreamRequestError('content-length does not match the body')
      if (n > 0) {
        this.bodyMode = BODY_BUFFER
        this.bodyBuffer = body
      }
    } else if (body instanceof Readable) {
      this.bodyStream = body
      if (this.contentLength >= 0) {
        this.bodyMode = BODY_STREAM
      } else {
        this.bodyMode = BODY_CHUNKED
        this.head += 'transfer-encoding: chunked\r\n'
      }
    } else {
      return new InvalidUpstreamRequestError('unsupported request body type')
    }
    this.head += '\r\n'
    this.isBodySent = this.bodyMode === BODY_NONE
    return null
  }

  /** Appends one field line, noting the fields that change framing. False if it cannot be written. */
  #addField (name: string, value: string): boolean {
    if (!isToken(name) || !isFieldValue(value)) return false
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') this.hasHost = true
        break
      case 10:
        if (name.toLowerCase() === 'connection' && value.toLowerCase().includes('close')) this.isCloseRequested = true
        break
      case 14:
        if (name.toLowerCase() === 'content-length') {
          const n = parseContentLength(value)
          if (n < 0 || (this.contentLength >= 0 && this.contentLength !== n)) this.contentLength = -2
          else if (this.contentLength !== -2) this.contentLength = n
        }
        break
      case 17:
        // We frame bodies ourselves (chunked when there is no length): a caller's
        // Transfer-Encoding would double-frame or contradict it.
        if (name.toLowerCase() === 'transfer-encoding') return true
        break
    }
    this.head += name + ': ' + value + '\r\n'
    return true
  }

  // --- called by the upstream and the connection ------------------------------------------------

  /** Tells the handler the request is on its way (it gets its controller). */
  start (): void {
    this.handler.onRequestStart?.(this, EMPTY_CONTEXT)
  }

  /** Returns false when the handler aborted the request in the callback. */
  onHead (statusCode: number, statusText: string, headers: ResponseHeaders): boolean {
    if (this.state === REQ_DONE) return false
    this.state = REQ_RESPONDING
    this.handler.onResponseStart?.(this, statusCode, headers, statusText)
    return this.state !== REQ_DONE
  }

  onBody (chunk: Buffer): boolean {
    if (this.state === REQ_DONE) return false
    this.isChunkReleased = false
    this.handler.onResponseData?.(this, chunk)
    return this.state !== REQ_DONE
  }

  /** The response is complete. The connection has already let go of this request. */
  complete (trailers: ResponseHeaders | null): void {
    if (this.state === REQ_DONE) return
    this.state = REQ_DONE
    this.connection = null
    this.handler.onResponseEnd?.(this, trailers ?? NO_TRAILERS)
  }

  /** Ends the request with `err`: leaves the queue or the connection (whose socket dies), then reports. */
  fail (err: Error): void {
    if (this.state === REQ_DONE) return
    const wasQueued = this.state === REQ_QUEUED
    this.state = REQ_DONE
    const connection = this.connection
    if (connection !== null) {
      this.connection = null
      connection.abandon(this)
    } else if (wasQueued) {
      this.owner.dequeue(this)
    }
    this.handler.onResponseError?.(this, err)
  }

  // --- DispatchController ------------------------------------------------------------------------

  abort (reason: Error): void {
    if (this.state === REQ_DONE) return
    this.aborted = true
    this.reason = reason
    this.fail(reason)
  }

  releaseChunk (): void {
    this.isChunkReleased = true
  }

  pause (): void {
    if (this.paused || this.state === REQ_DONE) return
    this.paused = true
    if (this.connection !== null) this.connection.pauseReading()
  }

  resume (): void {
    if (!this.paused) return
    this.paused = false
    if (this.connection !== null && this.state !== REQ_DONE) this.connection.resumeReading()
  }
}

function isRecord (x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !(Symbol.iterator in x)
}
