import { isIP, connect as netConnect, type Socket } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import { WebSocketConnectionError, WebSocketHandshakeTimeoutError, type SluiceError } from '../shared/errors.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'
import {
  closePayloadOf, encodeClientFrame, isValidCloseCode, MaskSource, MAX_CONTROL_PAYLOAD_BYTES, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING,
  OPCODE_PONG, OPCODE_TEXT,
} from './websocket-frame-encoder.ts'
import { WebSocketFrameParser, type FrameSink } from './websocket-frame-parser.ts'
import { HANDSHAKE_FAILED, HANDSHAKE_MORE, HandshakeResponseReader, handshakeRequestOf, webSocketTargetOf, type WebSocketTarget } from './websocket-handshake.ts'

// A small RFC 6455 client for the one websocket the activator opens (its stats push to the
// autoscaler): ws:// or wss://, no extension (so no permessage-deflate, no zlib), no subprotocol,
// what we send never fragmented. It replaces `ws`'s client there, which on Node 24 costs the
// activator +11 MB RSS and ~25 ms because it loads node:http, https, tls, crypto and zlib.
// This one loads node:net (already loaded), node:crypto (the key, the accept check, the masks:
// +0.6 MB) and, for wss:// only, node:tls, both through process.getBuiltinModule on first use.
//
// Life of a client: connect() dials (Nagle off) and writes the handshake; a valid 101 within
// `handshakeTimeoutMs` (the dial and TLS included) makes it OPEN (onOpen); frames flow
// (websocket-frame-parser.ts); it ends in exactly one onClose(code, reason, error):
// - a close handshake, either side first: the peer's code and reason, error null;
// - anything else: code 1006 (or the code we failed the connection with: 1002, 1007, 1009), and
//   the error that ended it (handshake, timeout, protocol, socket; shared/errors.ts).
// Events are handler calls, not EventEmitter events: one handler object, told which client spoke,
// so the pusher can ignore a stale one.

export const WS_CONNECTING = 0
export const WS_OPEN = 1
export const WS_CLOSING = 2
export const WS_CLOSED = 3

/** Knative (knative.dev/pkg/websocket): a 3 s handshake timeout. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 3_000
/** How long a close handshake may take before the socket is destroyed. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 1_000
/** The largest message accepted from the peer, all fragments together. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

/** What a client tells its user; each call names the client, so a user with several can ignore a stale one. */
export interface WebSocketHandler {
  onWebSocketOpen (ws: WebSocketClient): void
  onWebSocketMessage (ws: WebSocketClient, data: Buffer, isBinary: boolean): void
  /** A pong (the answer to ping(), or unsolicited). Pings are answered by the client itself. */
  onWebSocketPong (ws: WebSocketClient, payload: Buffer): void
  /** Once per connect(), whatever happened; `error` null after a clean close handshake. */
  onWebSocketClose (ws: WebSocketClient, code: number, reason: string, error: SluiceError | null): void
}

export interface WebSocketClientOptions {
  readonly handshakeTimeoutMs?: number
  readonly closeTimeoutMs?: number
  readonly maxMessageBytes?: number
  readonly timers?: Timers
  /**
   * For wss:// only: TLS options on top of the defaults (Node's CA store and NODE_EXTRA_CA_CERTS,
   * SNI from the URL's host name unless it is an IP), e.g. `ca` for a private autoscaler CA.
   */
  readonly tls?: Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'> | null
}

let maskSource: MaskSource | null = null

export class WebSocketClient implements FrameSink {
  readonly url: string
  readonly #target: WebSocketTarget
  readonly #handler: WebSocketHandler
  readonly #timers: Timers
  readonly #handshakeTimeoutMs: number
  readonly #closeTimeoutMs: number
  readonly #tls: WebSocketClientOptions['tls']
  readonly #parser: WebSocketFrameParser
  readonly #masks: MaskSource
  #readyState: number
  #socket: Socket | null
  #handshake: HandshakeResponseReader | null
  #timer: TimerHandle | null
  #closeSent: boolean
  #closeReceived: boolean
  #closeCode: number
  #closeReason: string
  #error: SluiceError | null
  /** A valid 101 was read (the handshake completed). */
  #wasOpened: boolean
  /** terminate() was called: a 1006 without an error of its own. */
  #isTerminated: boolean
  #isDone: boolean
  // Socket listeners, bound once.
  readonly #onConnect: () => void
  readonly #onData: (chunk: Buffer) => void
  readonly #onSocketError: (err: Error) => void
  readonly #onSocketClose: () => void
  readonly #onTimeout: () => void

  /** Throws WebSocketUrlError for a URL that is not ws:// or wss://. Dials on connect(). */
  constructor (url: string, handler: WebSocketHandler, options: WebSocketClientOptions = {}) {
    this.url = url
    this.#target = webSocketTargetOf(url)
    this.#handler = handler
    this.#timers = options.timers ?? realTimers
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS
    this.#tls = options.tls ?? null
    this.#parser = new WebSocketFrameParser(this, options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES)
    maskSource ??= new MaskSource()
    this.#masks = maskSource
    this.#readyState = WS_CONNECTING
    this.#socket = null
    this.#handshake = null
    this.#timer = null
    this.#closeSent = false
    this.#closeReceived = false
    this.#closeCode = 1006
    this.#closeReason = ''
    this.#error = null
    this.#wasOpened = false
    this.#isTerminated = false
    this.#isDone = false
    this.#onConnect = () => { this.#sendHandshake() }
    this.#onData = (chunk) => { this.#read(chunk) }
    this.#onSocketError = (err) => { this.#error ??= new WebSocketConnectionError(`websocket connection failed: ${socketErrorName(err)}`, { cause: err }) }
    this.#onSocketClose = () => { this.#finish() }
    this.#onTimeout = () => { this.#timedOut() }
  }

  /** WS_CONNECTING, WS_OPEN, WS_CLOSING or WS_CLOSED. */
  get readyState (): number { return this.#readyState }

  /** Bytes written but not yet handed to the kernel (for backpressure). */
  get bufferedAmount (): number { return this.#socket === null ? 0 : this.#socket.writableLength }

  /** Dials and starts the handshake. Once per client; the outcome comes to the handler, never thrown. */
  connect (): void {
    if (this.#socket !== null || this.#isDone) return
    const target = this.#target
    let socket: Socket
    if (target.isSecure) {
      const tls = process.getBuiltinModule('node:tls')
      const servername = this.#tls?.servername ?? (isIP(target.host) !== 0 ? undefined : target.host)
      socket = tls.connect({ ...this.#tls, host: target.host, port: target.port, servername, ALPNProtocols: ['http/1.1'] })
      socket.once('secureConnect', this.#onConnect)
    } else {
      socket = netConnect({ host: target.host, port: target.port })
      socket.once('connect', this.#onConnect)
    }
    this.#socket = socket
    // Stats are small and latency-bound (a cold-start poke): no Nagle delay.
    socket.setNoDelay(true)
    socket.on('data', this.#onData)
    socket.on('error', this.#onSocketError)
    socket.on('close', this.#onSocketClose)
    this.#timer = this.#timers.setTimeout(this.#onTimeout, this.#handshakeTimeoutMs)
  }

  /** Sends one message: a Buffer as binary, a string as text. False (nothing sent) unless OPEN. */
  send (data: Buffer | string): boolean {
    if (this.#readyState !== WS_OPEN || this.#socket === null) return false
    this.#socket.write(encodeClientFrame(typeof data === 'string' ? OPCODE_TEXT : OPCODE_BINARY, data, this.#masks))
    return true
  }

  /** Sends a ping (at most 125 bytes of payload); the answer comes to onWebSocketPong. False unless OPEN. */
  ping (payload: Buffer = EMPTY): boolean {
    if (payload.length > MAX_CONTROL_PAYLOAD_BYTES) throw new RangeError(`a ping carries at most ${MAX_CONTROL_PAYLOAD_BYTES} bytes`)
    if (this.#readyState !== WS_OPEN || this.#socket === null) return false
    this.#socket.write(encodeClientFrame(OPCODE_PING, payload, this.#masks))
    return true
  }

  /**
   * Starts the close handshake (code 1000, 3000-4999 or another code one may send; a reason of at
   * most 123 UTF-8 bytes) and waits up to closeTimeoutMs for the peer's close frame and the end
   * of the connection. Before the handshake completes, it aborts the connection instead.
   */
  close (code = 1000, reason = ''): void {
    if (!isValidCloseCode(code)) throw new RangeError(`close code ${code} may not be sent`)
    if (Buffer.byteLength(reason, 'utf8') > MAX_CONTROL_PAYLOAD_BYTES - 2) throw new RangeError('a close reason is at most 123 bytes')
    if (this.#readyState === WS_CONNECTING) {
      this.#error ??= new WebSocketConnectionError('websocket closed before the handshake completed')
      this.#destroy()
      return
    }
    if (this.#readyState !== WS_OPEN) return
    this.#sendClose(code, reason)
    this.#readyState = WS_CLOSING
    this.#armCloseTimer()
  }

  /** Ends the connection now, without a close handshake (code 1006). */
  terminate (): void {
    if (this.#readyState === WS_CONNECTING) this.#error ??= new WebSocketConnectionError('websocket terminated before the handshake completed')
    this.#isTerminated = true
    this.#destroy()
  }

  // --- FrameSink (called by the parser, only while OPEN or CLOSING) ---

  onFrameMessage (data: Buffer, isBinary: boolean): void {
    if (this.#readyState === WS_OPEN) this.#handler.onWebSocketMessage(this, data, isBinary)
  }

  onFramePing (payload: Buffer): void {
    // RFC 6455 5.5.2: answer with a pong carrying the ping's payload; nothing once we sent a close.
    if (this.#readyState === WS_OPEN && !this.#closeSent && this.#socket !== null) this.#socket.write(encodeClientFrame(OPCODE_PONG, payload, this.#masks))
  }

  onFramePong (payload: Buffer): void {
    if (this.#readyState === WS_OPEN) this.#handler.onWebSocketPong(this, payload)
  }

  onFrameClose (code: number, reason: string): void {
    this.#closeReceived = true
    this.#closeCode = code
    this.#closeReason = reason
    this.#parser.stop()
    // RFC 6455 5.5.1: echo the close (its code) if we have not sent ours; then the server closes TCP.
    if (!this.#closeSent) this.#sendClose(code, '')
    this.#readyState = WS_CLOSING
    this.#socket?.end()
    this.#armCloseTimer()
  }

  // --- internals ---

  #sendHandshake (): void {
    const socket = this.#socket
    if (socket === null || this.#isDone) return
    const key = process.getBuiltinModule('node:crypto').randomBytes(16).toString('base64')
    this.#handshake = new HandshakeResponseReader(key)
    socket.write(handshakeRequestOf(this.#target, key))
  }

  #read (chunk: Buffer): void {
    if (this.#readyState === WS_CONNECTING) {
      const handshake = this.#handshake
      if (handshake === null) return
      const end = handshake.read(chunk)
      if (end === HANDSHAKE_MORE) return
      if (end === HANDSHAKE_FAILED) {
        this.#error ??= handshake.error
        this.#destroy()
        return
      }
      this.#handshake = null
      this.#timer?.cancel()
      this.#timer = null
      this.#readyState = WS_OPEN
      this.#wasOpened = true
      this.#handler.onWebSocketOpen(this)
      if (end === chunk.length || this.#readyState !== WS_OPEN) return
      chunk = chunk.subarray(end)
    }
    if (this.#parser.push(chunk) || this.#parser.error === null) return
    this.#failConnection(this.#parser.error)
  }

  /** RFC 6455 7.1.7: on a protocol error, send a close frame with its code and close the socket. */
  #failConnection (error: SluiceError & { readonly closeCode: number }): void {
    this.#error ??= error
    this.#closeCode = error.closeCode
    if (!this.#closeSent) this.#sendClose(error.closeCode, '')
    this.#readyState = WS_CLOSING
    // Flush the close frame, then close; the peer's answer is not awaited.
    this.#socket?.destroySoon()
    this.#armCloseTimer()
  }

  #sendClose (code: number, reason: string): void {
    this.#closeSent = true
    this.#socket?.write(encodeClientFrame(OPCODE_CLOSE, closePayloadOf(code, reason), this.#masks))
  }

  #armCloseTimer (): void {
    this.#timer?.cancel()
    this.#timer = this.#timers.setTimeout(this.#onTimeout, this.#closeTimeoutMs)
  }

  #timedOut (): void {
    this.#timer = null
    if (this.#readyState === WS_CONNECTING) this.#error ??= new WebSocketHandshakeTimeoutError(this.#handshakeTimeoutMs)
    else if (!this.#closeReceived && this.#error === null) this.#error = new WebSocketConnectionError(`no close frame from the peer within ${this.#closeTimeoutMs} ms`)
    this.#destroy()
  }

  #destroy (): void {
    // Nothing more is sent or parsed from here on; the handler hears of it on the socket's 'close'.
    if (this.#readyState !== WS_CLOSED) this.#readyState = WS_CLOSING
    this.#parser.stop()
    const socket = this.#socket
    if (socket === null) { this.#finish(); return }
    // 'close' follows (asynchronously) and finishes.
    socket.destroy()
  }

  /** The socket is closed (or never opened): tells the handler once. */
  #finish (): void {
    if (this.#isDone) return
    this.#isDone = true
    this.#readyState = WS_CLOSED
    this.#timer?.cancel()
    this.#timer = null
    const socket = this.#socket
    if (socket !== null) {
      socket.off('data', this.#onData)
      socket.off('connect', this.#onConnect)
      socket.off('secureConnect', this.#onConnect)
      // 'error' stays listened to: a late error on a closed socket must not crash the process.
    }
    // #closeCode: the peer's (close received), the one we failed the connection with, else 1006.
    let error = this.#error
    if (error === null && !this.#closeReceived && !this.#isTerminated) {
      if (!this.#wasOpened) error = new WebSocketConnectionError('connection closed before the handshake answer')
      else if (this.#parser.isMidFrame) error = new WebSocketConnectionError('connection closed mid-frame')
      else error = new WebSocketConnectionError('connection closed without a close frame')
    }
    this.#parser.stop()
    this.#handshake = null
    this.#handler.onWebSocketClose(this, this.#closeCode, this.#closeReason, error)
  }
}

const EMPTY = Buffer.alloc(0)

/** The errno code of a socket error (ECONNREFUSED, ...), else its message. */
function socketErrorName (err: Error): string {
  return 'code' in err && typeof err.code === 'string' ? err.code : err.message
}
