import { isUtf8 } from 'node:buffer'
import { WebSocketMessageTooLargeError, WebSocketProtocolError } from '../shared/errors.ts'
import {
  isValidCloseCode, MAX_CONTROL_PAYLOAD_BYTES, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_CONTINUATION, OPCODE_PING, OPCODE_PONG, OPCODE_TEXT,
} from './websocket-frame-encoder.ts'

// An incremental parser of server-to-client frames (RFC 6455 5), strict as the RFC asks of a
// client that negotiated no extension:
// - a masked frame, a reserved bit (RSV1-3) or a reserved opcode fails the connection (1002);
// - control frames (close, ping, pong) have FIN set and at most 125 bytes, and may come between
//   the fragments of a message; a continuation without a message, or a new message inside one,
//   is 1002;
// - a message whose fragments add up to more than `maxMessageBytes` is refused (1009) as soon as
//   a frame header says so, before its payload is read;
// - a text message must be UTF-8 as a whole (1007), and so must a close reason; a close payload
//   of one byte or with a code nobody may send is 1002.
//
// Buffers: a frame's header (2-14 bytes) that straddles reads is copied; a payload wholly inside
// one read is handed on as a view of it; one that straddles reads is copied into a buffer of its
// exact size (allocated once its length is known and checked), so a large message costs one copy,
// not one concat per read.

/** Receives what the parser finds. One implementation (WebSocketClient) keeps the calls monomorphic. */
export interface FrameSink {
  /** A whole message: its fragments joined, a text one checked as UTF-8. */
  onFrameMessage (data: Buffer, isBinary: boolean): void
  onFramePing (payload: Buffer): void
  onFramePong (payload: Buffer): void
  /** The peer's close frame: its code (1005 when it had none) and reason. */
  onFrameClose (code: number, reason: string): void
}

const S_HEADER = 0
const S_LENGTH_16 = 1
const S_LENGTH_64 = 2
const S_PAYLOAD = 3

const EMPTY = Buffer.alloc(0)

export class WebSocketFrameParser {
  readonly sink: FrameSink
  readonly maxMessageBytes: number
  /** After push() returned false: why (null when stop() was called). */
  error: WebSocketProtocolError | WebSocketMessageTooLargeError | null
  #stopped: boolean
  #state: number
  /** Header bytes kept from an earlier read (never payload). */
  #pending: Buffer
  #fin: boolean
  #opcode: number
  #payloadLength: number
  /** The payload of a frame that straddles reads, and how much of it has arrived. */
  #payload: Buffer | null
  #payloadFilled: number
  /** The opcode (text or binary) of the fragmented message under way; 0 = none. */
  #messageOpcode: number
  readonly #fragments: Buffer[]
  #fragmentBytes: number

  constructor (sink: FrameSink, maxMessageBytes: number) {
    this.sink = sink
    this.maxMessageBytes = maxMessageBytes
    this.error = null
    this.#stopped = false
    this.#state = S_HEADER
    this.#pending = EMPTY
    this.#fin = false
    this.#opcode = 0
    this.#payloadLength = 0
    this.#payload = null
    this.#payloadFilled = 0
    this.#messageOpcode = 0
    this.#fragments = []
    this.#fragmentBytes = 0
  }

  /** Whether bytes of a frame have been read but not the whole frame (or a message is unfinished). */
  get isMidFrame (): boolean {
    return this.#state !== S_HEADER || this.#pending.length > 0 || this.#messageOpcode !== 0
  }

  /** Ignores every later byte (the client is closing). The sink is not called again. */
  stop (): void {
    this.#stopped = true
    this.#pending = EMPTY
    this.#payload = null
    this.#fragments.length = 0
  }

  /** Parses `chunk`, calling the sink per frame. False once stopped or failed (then see `error`). */
  push (chunk: Buffer): boolean {
    if (this.#stopped) return false
    let buf = chunk
    if (this.#pending.length > 0) {
      buf = Buffer.concat([this.#pending, chunk])
      this.#pending = EMPTY
    }
    let off = 0
    while (!this.#stopped) {
      const available = buf.length - off
      if (this.#state === S_PAYLOAD) {
        if (this.#payload !== null) {
          const n = Math.min(available, this.#payloadLength - this.#payloadFilled)
          buf.copy(this.#payload, this.#payloadFilled, off, off + n)
          this.#payloadFilled += n
          off += n
          if (this.#payloadFilled < this.#payloadLength) return true
          const payload = this.#payload
          this.#payload = null
          this.#state = S_HEADER
          this.#onFrame(payload)
        } else if (available >= this.#payloadLength) {
          const payload = this.#payloadLength === 0 ? EMPTY : buf.subarray(off, off + this.#payloadLength)
          off += this.#payloadLength
          this.#state = S_HEADER
          this.#onFrame(payload)
        } else {
          this.#payload = Buffer.allocUnsafe(this.#payloadLength)
          this.#payloadFilled = 0
        }
        continue
      }
      const need = this.#state === S_HEADER ? 2 : this.#state === S_LENGTH_16 ? 2 : 8
      if (available < need) {
        if (available > 0) this.#pending = Buffer.from(buf.subarray(off))
        return true
      }
      if (this.#state === S_HEADER) this.#readHeader(buf[off], buf[off + 1])
      else if (this.#state === S_LENGTH_16) this.#afterLength(buf.readUInt16BE(off))
      else this.#readLength64(buf.readUInt32BE(off), buf.readUInt32BE(off + 4))
      off += need
    }
    return false
  }

  #readHeader (b0: number, b1: number): void {
    this.#fin = (b0 & 0x80) !== 0
    this.#opcode = b0 & 0x0f
    if ((b0 & 0x70) !== 0) { this.#fail(new WebSocketProtocolError('reserved bits set in a frame (no extension was negotiated)')); return }
    // RFC 6455 5.1: "A client MUST close a connection if it detects a masked frame."
    if ((b1 & 0x80) !== 0) { this.#fail(new WebSocketProtocolError('masked frame from the server')); return }
    const length7 = b1 & 0x7f
    const opcode = this.#opcode
    if (opcode >= OPCODE_CLOSE) {
      if (opcode > OPCODE_PONG) { this.#fail(new WebSocketProtocolError(`reserved opcode 0x${opcode.toString(16)}`)); return }
      if (!this.#fin) { this.#fail(new WebSocketProtocolError('fragmented control frame')); return }
      if (length7 > MAX_CONTROL_PAYLOAD_BYTES) { this.#fail(new WebSocketProtocolError(`control frame over ${MAX_CONTROL_PAYLOAD_BYTES} bytes`)); return }
    } else if (opcode > OPCODE_BINARY) {
      this.#fail(new WebSocketProtocolError(`reserved opcode 0x${opcode.toString(16)}`))
      return
    } else if (opcode === OPCODE_CONTINUATION && this.#messageOpcode === 0) {
      this.#fail(new WebSocketProtocolError('continuation frame without a message to continue'))
      return
    } else if (opcode !== OPCODE_CONTINUATION && this.#messageOpcode !== 0) {
      this.#fail(new WebSocketProtocolError('new data frame inside a fragmented message'))
      return
    }
    if (length7 === 126) this.#state = S_LENGTH_16
    else if (length7 === 127) this.#state = S_LENGTH_64
    else this.#afterLength(length7)
  }

  #readLength64 (high: number, low: number): void {
    if (high >= 0x8000_0000) { this.#fail(new WebSocketProtocolError('frame length with its most significant bit set')); return }
    // Over 2^53 cannot be a JS number; far over any maxMessageBytes anyway.
    if (high >= 0x20_0000) { this.#fail(new WebSocketMessageTooLargeError(this.maxMessageBytes)); return }
    this.#afterLength(high * 0x1_0000_0000 + low)
  }

  #afterLength (length: number): void {
    if (this.#opcode < OPCODE_CLOSE && this.#fragmentBytes + length > this.maxMessageBytes) {
      this.#fail(new WebSocketMessageTooLargeError(this.maxMessageBytes))
      return
    }
    this.#payloadLength = length
    this.#state = S_PAYLOAD
  }

  #onFrame (payload: Buffer): void {
    const opcode = this.#opcode
    if (opcode === OPCODE_PING) { this.sink.onFramePing(payload); return }
    if (opcode === OPCODE_PONG) { this.sink.onFramePong(payload); return }
    if (opcode === OPCODE_CLOSE) { this.#onClose(payload); return }
    if (!this.#fin) {
      if (opcode !== OPCODE_CONTINUATION) this.#messageOpcode = opcode
      this.#fragments.push(payload.length > 0 && payload.buffer.byteLength > payload.length ? Buffer.from(payload) : payload)
      this.#fragmentBytes += payload.length
      return
    }
    let message = payload
    let messageOpcode = opcode
    if (opcode === OPCODE_CONTINUATION) {
      this.#fragments.push(payload)
      message = Buffer.concat(this.#fragments, this.#fragmentBytes + payload.length)
      messageOpcode = this.#messageOpcode
      this.#fragments.length = 0
      this.#fragmentBytes = 0
      this.#messageOpcode = 0
    }
    if (messageOpcode === OPCODE_TEXT && !isUtf8(message)) {
      this.#fail(new WebSocketProtocolError('text message is not UTF-8', 1007))
      return
    }
    this.sink.onFrameMessage(message, messageOpcode === OPCODE_BINARY)
  }

  #onClose (payload: Buffer): void {
    if (payload.length === 0) { this.sink.onFrameClose(1005, ''); return }
    if (payload.length === 1) { this.#fail(new WebSocketProtocolError('close frame with a 1-byte payload')); return }
    const code = payload.readUInt16BE(0)
    if (!isValidCloseCode(code)) { this.#fail(new WebSocketProtocolError(`close frame with code ${code}, which may not be sent`)); return }
    const reason = payload.subarray(2)
    if (!isUtf8(reason)) { this.#fail(new WebSocketProtocolError('close reason is not UTF-8', 1007)); return }
    this.sink.onFrameClose(code, reason.toString('utf8'))
  }

  #fail (error: WebSocketProtocolError | WebSocketMessageTooLargeError): void {
    this.error = error
    this.stop()
  }
}
