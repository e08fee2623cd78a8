import { connect, type Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { UpstreamConnectionError, UpstreamProtocolError } from '../shared/errors.ts'
import { H1ResponseParser, PARSE_DONE, PARSE_ERROR, type ResponseHeaders, type ResponseSink } from './h1-response-parser.ts'
import { BODY_BUFFER, BODY_CHUNKED, BODY_NONE, REQ_SENT, type H1Request, type RequestConnection } from './h1-upstream-request.ts'
import type { SecureDialer } from './secure-dialer.ts'

// One keep-alive socket of H1Upstream, carrying at most one request at a time (no pipelining:
// a response is read to its end before the next request is written, so a stalled response never
// holds up another). Socket and body-stream listeners are bound once per connection and find the
// current request through `request`, so a request adds no closure and no listener of its own
// (a streamed request body adds three, removed when it ends).
//
// Life: CONNECTING -> BUSY <-> IDLE -> CLOSED. CLOSED is final and reached exactly once, through
// `destroy()` or the socket closing on its own; either way the owner hears `onConnectionGone`.
//
// With a SecureDialer the socket is a TLS one (the activator's system-internal-tls): it is ready
// at 'secureConnect', and its reads arrive as 'data' chunks (TLS sockets have no `onread`), each a
// fresh buffer. The plain path is the same code as without TLS: the only branches are here, once
// per connection, not per request.

export const CONN_CONNECTING = 0
export const CONN_BUSY = 1
export const CONN_IDLE = 2
export const CONN_CLOSED = 3

/** SO_KEEPALIVE: first probe after a minute of silence (a dead peer is found, not waited on forever). */
const KEEPALIVE_PROBE_DELAY_MS = 60_000

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** The response ended and the socket may carry another request. */
  onConnectionFree (conn: H1Connection): void
  /** The connection is closed (or closing): forget it. Called once. */
  onConnectionGone (conn: H1Connection): void
}

const CRLF = Buffer.from('\r\n')
/**
 * Reads land in a per-connection slab. A read whose body bytes the handler kept moves the slab
 * on, so that region is never read into again and the slices stay valid however long they are
 * kept; a read whose chunks were all given back (ChunkLender: the exchange copied them or wrote
 * them out whole, the common case) leaves its region for the next read. This skips what Node
 * does per read by default (a native allocation per read, a new Buffer, the Readable push/emit
 * path) and, with reuse, the external memory whose churn drives V8's full collections. A new
 * slab starts when less than READ_MIN_BYTES is left; a slab lives as long as a slice of it does
 * (a response waiting on a slow client holds at most its slab). Cost: each open connection holds
 * its current slab, at most 64 KiB, idle or not.
 */
const READ_SLAB_BYTES = 64 * 1024
const READ_MIN_BYTES = 16 * 1024
const NO_SLAB = Buffer.alloc(0)
const LAST_CHUNK = Buffer.from('0\r\n\r\n')

export class H1Connection implements ResponseSink, RequestConnection {
  readonly owner: ConnectionOwner
  readonly socket: Socket
  readonly parser: H1ResponseParser
  state: number
  request: H1Request | null
  // LIFO idle list links (owned by the pool)
  idlePrev: H1Connection | null
  idleNext: H1Connection | null
  /** The pool's sweep tick when this connection went idle. */
  idleSinceTick: number
  /** The socket is paused for the current request (its client reads slower than we receive). */
  isReadPaused: boolean
  /** The request body being streamed, or null. */
  body: Readable | null
  isBodyChunked: boolean
  /** We paused `body` until the socket drains. */
  isBodyPaused: boolean
  /** Requests completed on this socket (tests, metrics). */
  served: number
  /**
   * Freed in this turn of the event loop: not reused until the loop has polled once, so an EOF or
   * bytes the app sent right after its response (already in the kernel) are seen first (H1Upstream).
   */
  isSettling: boolean
  /** H1Upstream's settle generation when it was freed. */
  settleGen: number
  slab: Buffer
  slabUsed: number
  /** A handler kept body bytes of the read being parsed: its region must not be read into again. */
  isReadKept: boolean
  /** null: plain TCP. */
  readonly secure: SecureDialer | null

  constructor (owner: ConnectionOwner, host: string, port: number, maxHeadBytes: number, connectTimeoutMs: number, secure: SecureDialer | null = null) {
    this.owner = owner
    this.parser = new H1ResponseParser(this, maxHeadBytes)
    this.state = CONN_CONNECTING
    this.request = null
    this.idlePrev = null
    this.idleNext = null
    this.idleSinceTick = 0
    this.isReadPaused = false
    this.body = null
    this.isBodyChunked = false
    this.isBodyPaused = false
    this.served = 0
    this.isSettling = false
    this.settleGen = 0
    this.slab = NO_SLAB
    this.slabUsed = 0
    this.isReadKept = false
    this.secure = secure
    this.nextReadBuffer = this.nextReadBuffer.bind(this)
    this.onRead = this.onRead.bind(this)
    this.onConnect = this.onConnect.bind(this)
    this.onEnd = this.onEnd.bind(this)
    this.onError = this.onError.bind(this)
    this.onClose = this.onClose.bind(this)
    this.onDrain = this.onDrain.bind(this)
    this.onConnectTimeout = this.onConnectTimeout.bind(this)
    this.onBodyData = this.onBodyData.bind(this)
    this.onBodyEnd = this.onBodyEnd.bind(this)
    this.onBodyError = this.onBodyError.bind(this)
    let socket: Socket
    if (secure === null) {
      socket = connect({
        host,
        port,
        noDelay: true,
        keepAlive: true,
        keepAliveInitialDelay: KEEPALIVE_PROBE_DELAY_MS,
        onread: { buffer: this.nextReadBuffer, callback: this.onRead },
      })
      socket.once('connect', this.onConnect)
    } else {
      socket = secure.connect(host, port)
      socket.once('secureConnect', this.onConnect)
      socket.on('data', this.onSecureData.bind(this))
    }
    this.socket = socket
    socket.on('end', this.onEnd)
    socket.on('error', this.onError)
    socket.on('close', this.onClose)
    socket.on('drain', this.onDrain)
    if (connectTimeoutMs > 0) {
      // Per connection, not per request; cleared once connected.
      socket.setTimeout(connectTimeoutMs)
      socket.once('timeout', this.onConnectTimeout)
    }
  }

  /** Puts `req` on this connection and writes it (once connected). */
  start (req: H1Request): void {
    this.request = req
    req.connection = this
    req.state = REQ_SENT
    this.parser.reset(req.isHeadMethod)
    if (this.state === CONN_CONNECTING) return // onConnect sends it
    this.state = CONN_BUSY
    this.#send(req)
  }

  #send (req: H1Request): void {
    const socket = this.socket
    switch (req.bodyMode) {
      case BODY_NONE:
        socket.write(req.head, 'latin1')
        break
      case BODY_BUFFER: {
        const body = req.bodyBuffer
        // Head and body leave in one writev.
        socket.cork()
        socket.write(req.head, 'latin1')
        if (body !== null) socket.write(body)
        socket.uncork()
        req.isBodySent = true
        break
      }
      default: {
        socket.write(req.head, 'latin1')
        const body = req.bodyStream
        if (body === null) break
        if (body.readableEnded) { // nothing left to read (an empty body already consumed)
          if (req.bodyMode === BODY_CHUNKED) socket.write(LAST_CHUNK)
          req.isBodySent = true
          break
        }
        if (body.destroyed) { // it failed while the request waited for this connection: no event will come
          this.#failRequest(req, body.errored ?? new Error('request body destroyed before it was sent'))
          break
        }
        this.body = body
        this.isBodyChunked = req.bodyMode === BODY_CHUNKED
        body.on('data', this.onBodyData)
        body.on('end', this.onBodyEnd)
        body.on('error', this.onBodyError)
        if (body.isPaused()) body.resume()
      }
    }
  }

  // --- request body -----------------------------------------------------------------------------

  onBodyData (chunk: Buffer | string): void {
    const socket = this.socket
    let ok: boolean
    if (this.isBodyChunked) {
      const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
      if (n === 0) return // a zero-size chunk would end the body early
      socket.cork()
      socket.write(n.toString(16) + '\r\n', 'latin1')
      socket.write(chunk)
      ok = socket.write(CRLF)
      socket.uncork()
    } else {
      ok = socket.write(chunk)
    }
    if (!ok && this.body !== null && !this.isBodyPaused) {
      // Backpressure: the app reads slower than the client sends; resume on 'drain'.
      this.isBodyPaused = true
      this.body.pause()
    }
  }

  onDrain (): void {
    if (this.isBodyPaused && this.body !== null) {
      this.isBodyPaused = false
      this.body.resume()
    }
  }

  onBodyEnd (): void {
    if (this.isBodyChunked) this.socket.write(LAST_CHUNK)
    this.#detachBody()
    const req = this.request
    if (req !== null) req.isBodySent = true
  }

  onBodyError (err: Error): void {
    // The client's body broke (it went away mid-upload): the request cannot complete.
    const req = this.request
    this.#detachBody()
    if (req !== null) this.#failRequest(req, err)
  }

  #detachBody (): void {
    const body = this.body
    if (body === null) return
    this.body = null
    body.removeListener('data', this.onBodyData)
    body.removeListener('end', this.onBodyEnd)
    body.removeListener('error', this.onBodyError)
    // Left flowing, the rest of an unfinished body is read and dropped, so the client's
    // connection can go on (Node's server would otherwise wait for it).
    if (this.isBodyPaused) { this.isBodyPaused = false; body.resume() }
  }

  // --- socket events ------------------------------------------------------------------------------

  onConnect (): void {
    this.socket.setTimeout(0)
    this.socket.removeListener('timeout', this.onConnectTimeout)
    if (this.state !== CONN_CONNECTING) return
    const req = this.request
    if (req === null) { this.destroy(); return } // its request was aborted while connecting
    this.state = CONN_BUSY
    this.#send(req)
  }

  onConnectTimeout (): void {
    if (this.state !== CONN_CONNECTING) return
    const req = this.request
    if (req === null) { this.destroy(); return }
    this.#failRequest(req, new UpstreamConnectionError('UND_ERR_CONNECT_TIMEOUT', 'connecting to the upstream timed out'))
  }

  /** Node asks for the buffer of the next read (after each read, and once at the start). */
  nextReadBuffer (): Buffer {
    if (this.slab.length - this.slabUsed < READ_MIN_BYTES) {
      this.slab = Buffer.allocUnsafeSlow(READ_SLAB_BYTES)
      this.slabUsed = 0
    }
    return this.slab.subarray(this.slabUsed)
  }

  /** `nread` bytes arrived at the start of `buf`, the region nextReadBuffer gave out. */
  onRead (nread: number, buf: Buffer): boolean {
    this.isReadKept = false
    this.onData(buf, nread)
    if (this.isReadKept) this.slabUsed += nread
    return true // pausing goes through pauseReading()
  }

  /** A TLS socket's read: a buffer of its own, never reused, so nothing to track. */
  onSecureData (chunk: Buffer): void {
    this.onData(chunk, chunk.length)
  }

  onData (buf: Buffer, len: number): void {
    const req = this.request
    if (req === null) {
      // Bytes on an idle socket: nothing asked for them, so we can no longer trust its framing.
      this.destroy()
      return
    }
    const parser = this.parser
    let result: number
    try {
      result = parser.execute(buf, len)
    } catch (err) {
      // A handler callback threw: the request cannot go on, and this socket's framing is lost.
      if (this.request === req) this.#failRequest(req, err instanceof Error ? err : new Error(String(err)))
      else throw err
      return
    }
    if (result === PARSE_DONE) {
      this.#completeRequest(req, parser.consumed === len)
    } else if (result === PARSE_ERROR) {
      if (this.request === req) this.#failRequest(req, new UpstreamProtocolError(parser.errorMessage))
    }
    // PARSE_MORE: wait for more; PARSE_STOPPED: the handler aborted (the socket is gone).
  }

  onEnd (): void {
    const req = this.request
    if (req === null) { this.destroy(); return }
    if (this.parser.finish()) {
      // A close-delimited body ends with the connection.
      this.#completeRequest(req, true)
      return
    }
    this.#failRequest(req, new UpstreamConnectionError('UND_ERR_SOCKET', this.parser.hasStarted
      ? 'upstream closed the connection mid-response'
      : 'upstream closed the connection before responding'))
  }

  onError (err: Error): void {
    const req = this.request
    if (req === null) { this.destroy(); return }
    // Before the connection exists the OS error (ECONNREFUSED, ...) is the most useful code and
    // lets the exchange tell "nobody listens" from the keep-alive race.
    this.#failRequest(req, this.state === CONN_CONNECTING
      ? (this.secure === null ? err : this.secure.connectError(err))
      : new UpstreamConnectionError('UND_ERR_SOCKET', 'upstream socket error', { cause: err }))
  }

  onClose (): void {
    const req = this.request
    if (req !== null) {
      this.#failRequest(req, new UpstreamConnectionError('UND_ERR_SOCKET', 'upstream connection closed'))
      return
    }
    this.destroy()
  }

  // --- ResponseSink -------------------------------------------------------------------------------

  onParsedHead (statusCode: number, statusText: string, headers: ResponseHeaders): boolean {
    const req = this.request
    return req !== null && req.onHead(statusCode, statusText, headers) && this.request === req
  }

  onParsedBody (chunk: Buffer): boolean {
    const req = this.request
    if (req === null) return false
    const goOn = req.onBody(chunk)
    if (!req.isChunkReleased) this.isReadKept = true
    return goOn && this.request === req
  }

  // --- RequestConnection -------------------------------------------------------------------------

  abandon (req: H1Request): void {
    if (this.request !== req) return
    this.request = null
    this.destroy()
  }

  // Pausing stops the socket from reading (TCP backpressure to the app). A buffer being parsed is
  // still delivered to its end: at most one read (64 KiB), which the exchange's response buffers.
  /**
   * Safe to send the next request on: idle, both directions open, reading (so bytes the app sent
   * after its response were delivered to `onData`, which retires the socket) and nothing buffered.
   */
  get isReusable (): boolean {
    const socket = this.socket
    return this.state === CONN_IDLE && !this.isReadPaused && !socket.destroyed && socket.readable &&
      socket.writable && !socket.readableEnded && socket.readableLength === 0
  }

  pauseReading (): void {
    if (this.isReadPaused) return
    this.isReadPaused = true
    this.socket.pause()
  }

  resumeReading (): void {
    if (!this.isReadPaused) return
    this.isReadPaused = false
    this.socket.resume()
  }

  // --- endings -------------------------------------------------------------------------------------

  #completeRequest (req: H1Request, isExact: boolean): void {
    const trailers = this.parser.trailers
    const reusable = this.parser.keepAlive && isExact && req.isBodySent && !req.isCloseRequested
    this.request = null
    req.connection = null
    if (reusable) {
      this.served++
      if (this.isReadPaused) this.resumeReading()
      this.state = CONN_IDLE
      // Free the socket before telling the handler: its onResponseEnd may dispatch the next
      // request (the admission slot it frees), which then finds this socket idle.
      this.owner.onConnectionFree(this)
    } else {
      this.destroy()
    }
    req.complete(trailers)
  }

  #failRequest (req: H1Request, err: Error): void {
    this.request = null
    req.connection = null
    this.destroy()
    req.fail(err)
  }

  /** Closes the socket for good. Idempotent. */
  destroy (): void {
    if (this.state === CONN_CLOSED) return
    this.state = CONN_CLOSED
    this.#detachBody()
    this.socket.destroy()
    this.owner.onConnectionGone(this)
  }
}
