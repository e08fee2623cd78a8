import type { Socket } from 'node:net'
import { STATUS_CODES } from '../shared/status-codes.ts'
import { MalformedRequestBodyError } from '../shared/errors.ts'
import { H1RequestParser, PARSE_DONE, PARSE_ERROR, PARSE_MORE, PARSE_STOPPED, type RequestSink } from './h1-request-parser.ts'
import { H1RequestBody, H1ServerRequest, type BodySource } from './h1-server-request.ts'
import { H1ServerResponse, type ResponseConnection } from './h1-server-response.ts'
import { isSharedReadBytes, readIntoSharedBuffer, restoreStreamReads } from './shared-read-buffer.ts'

// One client connection of H1Server: reads requests one at a time (a pipelined request waits,
// its bytes held and the socket paused, until the response before it ends), hands each to the
// listener, writes the responses, and keeps the connection for the next request when both
// sides allow it.
//
// Per message: REQ_HEAD -> (REQ_BODY) -> REQ_COMPLETE, and the response runs alongside. The
// next message starts when the request is complete and the response ended. A response that
// ends before its request body arrived leaves the rest to be read and dropped (node does the
// same), unless the connection closes anyway.
//
// `#pump` is the only place that runs the parser. A listener or a response may call back into
// the connection from inside it (a probe answered synchronously ends its response during
// the head's dispatch): those calls only set state and ask for another pass.

/** What a connection needs of its server. */
export interface ConnectionHost {
  readonly listener: (req: H1ServerRequest, res: H1ServerResponse) => void
  readonly maxHeadBytes: number
  /** Closing: finish the current response, then close instead of keeping the connection. */
  readonly isClosing: boolean
  nowMs (): number
  /** An Upgrade or CONNECT request: give the socket (rewound to the request) to node:http. */
  handOff (conn: H1ServerConnection, socket: Socket, rewound: Buffer): void
  onConnectionClose (conn: H1ServerConnection): void
  onClientError (conn: H1ServerConnection, status: number, message: string): void
  /** The listener threw: a bug; the request gets a 500 (or its connection is cut). */
  onListenerError (conn: H1ServerConnection, err: unknown): void
}

const REQ_HEAD = 0
const REQ_BODY = 1
const REQ_COMPLETE = 2

const RES_NONE = 0
const RES_ACTIVE = 1
const RES_ENDED = 2

const ABORTED_CODE = 'ECONNRESET'
const INTERNAL_ERROR_BODY = Buffer.from('internal error\n')
const EMPTY_BUFFER = Buffer.alloc(0)
const TEXT_PLAIN = ['content-type', 'text/plain; charset=utf-8']
const MISSING_HOST = { status: 400, message: 'missing required Host header', body: Buffer.from('missing required Host header\n') }
const EXPECT_UNSUPPORTED = { status: 417, message: 'unsupported Expect header', body: Buffer.from('unsupported Expect header\n') }

function onSocketData (this: Socket & { [kConn]?: H1ServerConnection }, chunk: Buffer): void { this[kConn]?.onData(chunk) }
function onSocketSharedRead (this: Socket & { [kConn]?: H1ServerConnection }, nread: number, buf: Buffer): boolean {
  this[kConn]?.onSharedRead(nread, buf)
  return true // pausing goes through socket.pause()
}
function onSocketEnd (this: Socket & { [kConn]?: H1ServerConnection }): void { this[kConn]?.onEnd() }
function onSocketClose (this: Socket & { [kConn]?: H1ServerConnection }): void { this[kConn]?.onClose() }
function onSocketDrain (this: Socket & { [kConn]?: H1ServerConnection }): void { this[kConn]?.onDrain() }
function onSocketError (): void { /* 'close' follows */ }

const kConn = Symbol('sluice.h1conn')

export class H1ServerConnection implements RequestSink, BodySource, ResponseConnection {
  readonly host: ConnectionHost
  readonly socket: Socket
  readonly parser: H1RequestParser
  reqState: number
  resState: number
  req: H1ServerRequest | null
  res: H1ServerResponse | null
  /** Bytes read and not yet parsed, from `inputOff`. */
  input: Buffer | null
  inputOff: number
  isPumping: boolean
  pumpAgain: boolean
  /** The request body is dropped (the response ended first, or the body stream was destroyed). */
  isDiscardingBody: boolean
  /** Body slices parsed from the current read, not yet pushed (see #flushBody). */
  pendingBody: Buffer[] | null
  /** Reading is paused: the body stream is full, or a pipelined request waits. */
  isPausedForBody: boolean
  isPausedForPipeline: boolean
  /** After the current response: close, do not read another request. */
  closeAfterResponse: boolean
  isClosed: boolean
  /** Our side is closed (FIN sent); what the client still sends is read and dropped. */
  isEnding: boolean
  endingSinceMs: number
  isHandedOff: boolean
  /** When the connection became idle (between requests), or -1 while busy. */
  idleSinceMs: number
  /** When the current head's first byte arrived, or -1. */
  headStartMs: number
  /** Reads land in the process-wide buffer (shared-read-buffer.ts): what is kept gets copied. */
  readsShared: boolean

  constructor (host: ConnectionHost, socket: Socket) {
    this.host = host
    this.socket = socket
    this.parser = new H1RequestParser(this, host.maxHeadBytes)
    this.reqState = REQ_HEAD
    this.resState = RES_NONE
    this.req = null
    this.res = null
    this.input = null
    this.inputOff = 0
    this.isPumping = false
    this.pumpAgain = false
    this.isDiscardingBody = false
    this.pendingBody = null
    this.isPausedForBody = false
    this.isPausedForPipeline = false
    this.closeAfterResponse = false
    this.isClosed = false
    this.isEnding = false
    this.endingSinceMs = -1
    this.isHandedOff = false
    this.idleSinceMs = host.nowMs()
    this.headStartMs = -1
    this.readsShared = false
    const s = socket as Socket & { [kConn]?: H1ServerConnection }
    s[kConn] = this
    socket.on('data', onSocketData)
    socket.on('end', onSocketEnd)
    socket.on('close', onSocketClose)
    socket.on('drain', onSocketDrain)
    socket.on('error', onSocketError)
  }

  /** No request in progress: safe to close. */
  get isIdle (): boolean { return this.reqState === REQ_HEAD && !this.parser.hasStarted && this.resState === RES_NONE }

  // --- reading --------------------------------------------------------------------------------

  /** From now on, reads go to the shared buffer (when the socket allows it) instead of 'data'. */
  readShared (): void {
    if (this.readsShared || this.isHandedOff || this.isClosed) return
    if (!readIntoSharedBuffer(this.socket, onSocketSharedRead)) return
    this.readsShared = true
    this.socket.off('data', onSocketData)
  }

  onSharedRead (nread: number, buf: Buffer): void {
    this.onData(buf.subarray(0, nread))
    // Bytes left unparsed (a pipelined request, a paused body) outlive this read: keep a copy.
    const input = this.input
    if (input !== null && isSharedReadBytes(input)) {
      this.input = Buffer.from(input.subarray(this.inputOff))
      this.inputOff = 0
    }
  }

  onData (chunk: Buffer): void {
    if (this.isHandedOff || this.isClosed || this.isEnding) return
    if (this.input === null) {
      this.input = chunk
      this.inputOff = 0
    } else {
      // A pipelined request waits (rare): keep its bytes, bounded since the socket is paused.
      this.input = Buffer.concat([this.input.subarray(this.inputOff), chunk])
      this.inputOff = 0
    }
    this.#pump()
  }

  #pump (): void {
    if (this.isPumping) { this.pumpAgain = true; return }
    this.isPumping = true
    try {
      do {
        this.pumpAgain = false
        this.#pumpOnce()
      } while (this.pumpAgain && !this.isClosed && !this.isHandedOff)
    } finally {
      this.isPumping = false
    }
  }

  #pumpOnce (): void {
    const parser = this.parser
    for (;;) {
      if (this.reqState === REQ_COMPLETE) {
        if (this.resState !== RES_ENDED) {
          // The response is still running: a pipelined request waits for it.
          if (this.input !== null && !this.isPausedForPipeline) { this.isPausedForPipeline = true; this.socket.pause() }
          return
        }
        if (!this.#nextMessage()) return
      }
      const input = this.input
      if (input === null) return
      if (this.reqState === REQ_HEAD && this.headStartMs < 0) this.headStartMs = this.host.nowMs()
      const r = parser.execute(input, this.inputOff, input.length)
      if (this.pendingBody !== null) this.#flushBody()
      this.inputOff = parser.consumed
      if (this.inputOff >= input.length) { this.input = null; this.inputOff = 0 }
      if (r === PARSE_STOPPED) {
        // A head: dispatch it (this may end its response at once), then go on with the body.
        if (!this.#onHead(input)) return
        continue
      }
      if (r === PARSE_DONE) { this.#onMessageComplete(); continue }
      if (r === PARSE_MORE) return
      if (r === PARSE_ERROR) { this.#onParseError(); return }
    }
  }

  onParsedRequestHead (_parser: H1RequestParser): boolean {
    return false // stop: #pump dispatches the head outside the parser
  }

  onParsedRequestBody (chunk: Buffer): boolean {
    if (this.isDiscardingBody || this.req === null || this.req.body === null) return true
    // Collected and handed on once per read (#flushBody): a client sending tiny chunks would
    // otherwise cost a stream push and an upstream write per chunk.
    if (this.pendingBody === null) this.pendingBody = [chunk]
    else this.pendingBody.push(chunk)
    return true
  }

  /** Hands the body bytes of the last parsed read to the body stream, as one chunk. */
  #flushBody (): void {
    const pieces = this.pendingBody
    if (pieces === null) return
    this.pendingBody = null
    const body = this.req?.body ?? null
    if (body === null || this.isDiscardingBody || body.destroyed) return
    // One piece may be a view of the shared read buffer: the stream keeps it, so it gets a copy.
    const first = pieces[0] ?? EMPTY_BUFFER
    const chunk = pieces.length > 1 ? Buffer.concat(pieces) : isSharedReadBytes(first) ? Buffer.from(first) : first
    if (!body.push(chunk) && !this.isPausedForBody) {
      this.isPausedForBody = true
      this.socket.pause()
    }
  }

  /** Returns false when the connection left us (handed off or closed). */
  #onHead (input: Buffer): boolean {
    const p = this.parser
    this.headStartMs = -1
    if (p.isConnectionUpgrade && p.hasUpgrade || p.method === 'CONNECT') {
      const rewound = Buffer.concat([p.headBytes(), input.subarray(p.consumed)])
      this.#handOff(rewound)
      return false
    }
    const hasBody = !p.isDone
    const body = hasBody ? new H1RequestBody(this) : null
    const req = new H1ServerRequest(p.method, p.url, p.headers, p.rawHeaders, p.httpMinor, this.socket, body)
    // Refused here, answered like Go's server (Knative's queue-proxy): the connection closes.
    const refusal = p.httpMinor >= 1 && !p.hasHost ? MISSING_HOST : p.expectUnsupported ? EXPECT_UNSUPPORTED : null
    const keepAlive = p.keepAlive && !this.host.isClosing && refusal === null
    const res = new H1ServerResponse(this, p.method === 'HEAD', p.httpMinor, keepAlive)
    this.req = req
    this.res = res
    this.reqState = hasBody ? REQ_BODY : REQ_COMPLETE
    this.resState = RES_ACTIVE
    this.idleSinceMs = -1
    if (refusal !== null) {
      this.host.onClientError(this, refusal.status, refusal.message)
      res.writeHead(refusal.status, TEXT_PLAIN)
      res.end(refusal.body)
      return !this.isClosed
    }
    if (hasBody && p.expectContinue && p.httpMinor >= 1) this.writeOut('HTTP/1.1 100 Continue\r\n\r\n')
    try {
      this.host.listener(req, res)
    } catch (err) {
      this.host.onListenerError(this, err)
      if (!res.headersSent) { res.statusCode = 500; res.end(INTERNAL_ERROR_BODY) }
      else if (!res.writableEnded) this.destroy()
    }
    return !this.isClosed && !this.isHandedOff
  }

  #onMessageComplete (): void {
    this.reqState = REQ_COMPLETE
    if (!this.parser.keepAlive) {
      // `Connection: close` in the request's trailers (llhttp honours it too): this exchange is
      // the connection's last.
      this.closeAfterResponse = true
      if (this.res !== null) this.res.keepAlive = false
    }
    const req = this.req
    if (req !== null && req.body !== null) {
      req.rawTrailers = this.parser.rawTrailers
      req.body.isComplete = true
      if (!this.isDiscardingBody) req.body.push(null)
    }
  }

  /** The request is read and its response ended: reset for the next one. False: stop reading. */
  #nextMessage (): boolean {
    const res = this.res
    if (this.closeAfterResponse || (res !== null && !res.keepAlive) || this.host.isClosing) {
      this.#endSocket()
      return false
    }
    this.req = null
    this.res = null
    this.reqState = REQ_HEAD
    this.resState = RES_NONE
    this.isDiscardingBody = false
    this.parser.reset()
    this.idleSinceMs = this.host.nowMs()
    if (this.isPausedForPipeline) { this.isPausedForPipeline = false; this.socket.resume() }
    if (this.isPausedForBody) { this.isPausedForBody = false; this.socket.resume() }
    return true
  }

  #onParseError (): void {
    const p = this.parser
    this.host.onClientError(this, p.errorStatus, p.errorMessage)
    this.input = null
    if (this.resState === RES_ACTIVE) {
      // Mid-request (a bad chunk): the body fails; the response ends the connection.
      this.closeAfterResponse = true
      if (this.res !== null) this.res.keepAlive = false // its head, if not yet out, says so
      const body = this.req?.body ?? null
      if (body !== null && !body.destroyed) body.destroy(new MalformedRequestBodyError(p.errorMessage))
      return
    }
    const message = p.errorMessage + '\n'
    this.writeOut(`HTTP/1.1 ${p.errorStatus} ${STATUS_CODES[p.errorStatus] ?? 'Bad Request'}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${message.length}\r\n\r\n${message}`)
    this.#endSocket()
  }

  // --- the body stream asks --------------------------------------------------------------------

  onBodyRead (): void {
    if (this.isPausedForBody && !this.isClosed) {
      this.isPausedForBody = false
      if (!this.isPausedForPipeline) this.socket.resume()
    }
  }

  onBodyDestroyed (body: H1RequestBody): void {
    if (this.req === null || this.req.body !== body) return
    // Nobody will read the rest: drop it as it comes (the connection stays usable).
    this.isDiscardingBody = true
    this.onBodyRead()
  }

  // --- writing (H1ServerResponse calls) --------------------------------------------------------

  writeOut (data: Buffer | string): boolean {
    if (this.isClosed || this.isEnding) return true
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data)
  }

  get hasPendingWrites (): boolean { return this.socket.writableLength > 0 }

  writeOutv (a: Buffer | string, b: Buffer | string, c: Buffer | string | null): boolean {
    if (this.isClosed || this.isEnding) return true
    const s = this.socket
    s.cork()
    if (typeof a === 'string') s.write(a, 'latin1'); else s.write(a)
    let ok = typeof b === 'string' ? s.write(b, 'latin1') : s.write(b)
    if (c !== null) ok = typeof c === 'string' ? s.write(c, 'latin1') : s.write(c)
    s.uncork()
    return ok
  }

  onResponseEnd (res: H1ServerResponse): void {
    if (res !== this.res) return
    this.resState = RES_ENDED
    if (this.reqState !== REQ_COMPLETE) {
      // The rest of the body is not wanted; read and drop it so the next request can follow.
      // (A reader still on the body is done too: its exchange ended.)
      this.isDiscardingBody = true
      const body = this.req?.body ?? null
      if (body !== null && !body.destroyed) body.destroy()
      if (!res.keepAlive || this.host.isClosing) this.closeAfterResponse = true
      if (this.closeAfterResponse) { this.#endSocket(); return }
      this.onBodyRead()
      return
    }
    this.#pump()
  }

  destroyFromResponse (err: Error | undefined): void {
    if (this.isClosed) return
    this.socket.destroy(err)
  }

  onDrain (): void {
    const res = this.res
    if (res !== null && this.resState === RES_ACTIVE) res.emit('drain')
  }

  // --- endings ---------------------------------------------------------------------------------

  onEnd (): void {
    // The client half-closed: as node:http (httpAllowHalfOpen false), a request in progress is
    // abandoned; a finished exchange just closes.
    if (this.resState === RES_ACTIVE) this.#abort()
    this.#endSocket()
  }

  onClose (): void {
    if (this.isClosed) return
    this.isClosed = true
    this.input = null
    if (this.resState === RES_ACTIVE) this.#abort()
    else if (this.reqState === REQ_BODY) this.#abortBody()
    this.host.onConnectionClose(this)
  }

  #abort (): void {
    this.#abortBody()
    const res = this.res
    this.resState = RES_ENDED
    if (res !== null) {
      res.isAborted = true // `destroyed` is true inside 'close', as node's
      res.emit('close')
    }
  }

  #abortBody (): void {
    const body = this.req?.body ?? null
    if (body !== null && !body.isComplete && !body.destroyed) body.destroy(abortedError('client closed the connection'))
  }

  /** Ends our side after pending writes; the socket closes when the client answers the FIN. */
  /**
   * A lingering close (RFC 9112 9.6, Go's closeWriteAndWait): FIN after the pending writes, then
   * keep reading and dropping what the client still sends until it closes too, or the server's
   * sweep gives up (LINGER_MS). Closing with its bytes unread would make the kernel reset the
   * connection, and a client still sending (an oversized head, an unwanted upload) would lose the
   * answer we wrote.
   */
  #endSocket (): void {
    if (this.isClosed || this.isEnding) return
    this.isEnding = true
    this.endingSinceMs = this.host.nowMs()
    this.closeAfterResponse = true
    this.input = null
    const socket = this.socket
    socket.end()
    if (this.isPausedForBody || this.isPausedForPipeline) {
      this.isPausedForBody = false
      this.isPausedForPipeline = false
      socket.resume()
    }
  }

  /** Closes at once (server shutdown, timeouts). */
  destroy (): void {
    if (this.isClosed) return
    this.socket.destroy()
  }

  /** Closes an idle keep-alive connection now, or the busy one after its response. */
  closeWhenIdle (): void {
    if (this.isIdle) { this.#endSocket(); return }
    this.closeAfterResponse = true
    if (this.res !== null) this.res.keepAlive = false // its head, if not yet out, says so
  }

  /** A head that takes too long: 408 and close (node's headersTimeout). */
  timeOutHead (): void {
    if (this.isClosed || this.resState !== RES_NONE) return
    this.writeOut('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
    this.#endSocket()
  }

  #handOff (rewound: Buffer): void {
    const s = this.socket as Socket & { [kConn]?: H1ServerConnection }
    this.isHandedOff = true
    this.input = null
    s.pause()
    s.off('data', onSocketData)
    s.off('end', onSocketEnd)
    s.off('close', onSocketClose)
    s.off('drain', onSocketDrain)
    s.off('error', onSocketError)
    // node:http and the upgrade's consumer read 'data' events: reads become pushed copies again.
    if (this.readsShared) restoreStreamReads(s)
    s[kConn] = undefined
    this.host.onConnectionClose(this)
    this.host.handOff(this, s, rewound)
  }
}

function abortedError (message: string): Error {
  const err = new Error(message) as Error & { code: string }
  err.code = ABORTED_CODE
  return err
}
