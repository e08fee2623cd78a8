import { createHash } from 'node:crypto'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import type { SluiceError } from '../../src/shared/errors.ts'
import type { WebSocketClient, WebSocketHandler } from '../../src/websocket/websocket-client.ts'

// Fixtures for the websocket client's tests: a handler that records what the client tells it, a
// raw TCP server that answers the handshake as a test scripts it (right or wrong), and a decoder
// of the masked frames a client sends, written from RFC 6455 5.2 independently of src/.

interface TeardownHost { teardown (fn: () => unknown): void }

export type ClientEvent =
  | { kind: 'open' }
  | { kind: 'message', data: Buffer, isBinary: boolean }
  | { kind: 'pong', payload: Buffer }
  | { kind: 'close', code: number, reason: string, error: SluiceError | null }

/** Records a client's events in order; `next(kind)` waits for the next one of a kind. */
export class EventRecorder implements WebSocketHandler {
  readonly events: ClientEvent[] = []
  #waiters: Array<{ kind: ClientEvent['kind'], from: number, resolve: (e: ClientEvent) => void }> = []

  onWebSocketOpen (_ws: WebSocketClient): void { this.#push({ kind: 'open' }) }
  onWebSocketMessage (_ws: WebSocketClient, data: Buffer, isBinary: boolean): void { this.#push({ kind: 'message', data: Buffer.from(data), isBinary }) }
  onWebSocketPong (_ws: WebSocketClient, payload: Buffer): void { this.#push({ kind: 'pong', payload: Buffer.from(payload) }) }
  onWebSocketClose (_ws: WebSocketClient, code: number, reason: string, error: SluiceError | null): void { this.#push({ kind: 'close', code, reason, error }) }

  count (kind: ClientEvent['kind']): number { return this.events.filter((e) => e.kind === kind).length }

  /** The first event of `kind` at or after index `from` (default: any so far), waiting up to 5 s. */
  next<K extends ClientEvent['kind']> (kind: K, from = 0): Promise<Extract<ClientEvent, { kind: K }>> {
    const found = this.events.slice(from).find((e) => e.kind === kind)
    if (found !== undefined) return Promise.resolve(found as Extract<ClientEvent, { kind: K }>)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no ${kind} event within 5 s: ${JSON.stringify(this.events.map((e) => e.kind))}`)) }, 5000)
      this.#waiters.push({ kind, from, resolve: (e) => { clearTimeout(timer); resolve(e as Extract<ClientEvent, { kind: K }>) } })
    })
  }

  #push (e: ClientEvent): void {
    this.events.push(e)
    const index = this.events.length - 1
    const waiting = this.#waiters
    this.#waiters = []
    for (const w of waiting) {
      if (w.kind === e.kind && index >= w.from) w.resolve(e)
      else this.#waiters.push(w)
    }
  }
}

/** RFC 6455 1.3. */
export function acceptOf (key: string): string {
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
}

/** One connection to a RawServer: the request head as received, and the socket to answer on. */
export interface RawConnection {
  readonly socket: Socket
  readonly head: string
  readonly key: string
  /** Bytes received after the head (client frames), as they come. */
  readonly received: Buffer[]
  /** Resolves when the client's side is closed. */
  readonly closed: Promise<void>
  /** The correct 101 for this request, with `extra` header lines. */
  ok101 (extra?: string): string
}

/** A TCP server on 127.0.0.1:0 that hands each connection's handshake request to `onRequest`. */
export class RawServer {
  readonly server: Server
  readonly connections: RawConnection[] = []
  readonly #sockets = new Set<Socket>()
  #waiters: Array<(c: RawConnection) => void> = []

  constructor (onRequest: (c: RawConnection) => void, onConnect: ((socket: Socket) => void) | null = null) {
    this.server = createServer((socket) => {
      this.#sockets.add(socket)
      let resolveClosed: () => void = () => {}
      const closed = new Promise<void>((resolve) => { resolveClosed = resolve })
      socket.on('close', () => { this.#sockets.delete(socket); resolveClosed() })
      socket.on('error', () => {})
      if (onConnect !== null) { onConnect(socket); return }
      let data = Buffer.alloc(0)
      let conn: RawConnection | null = null
      const received: Buffer[] = []
      socket.on('data', (chunk: Buffer) => {
        if (conn !== null) { received.push(chunk); return }
        data = Buffer.concat([data, chunk])
        const end = data.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = data.subarray(0, end + 4).toString('latin1')
        if (data.length > end + 4) received.push(data.subarray(end + 4))
        const key = /^sec-websocket-key: *(.*)\r$/im.exec(head)?.[1] ?? ''
        conn = {
          socket, head, key, received, closed,
          ok101: (extra = '') => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(key)}\r\n${extra}\r\n`,
        }
        this.connections.push(conn)
        for (const w of this.#waiters.splice(0)) w(conn)
        onRequest(conn)
      })
    })
  }

  async listen (t: TeardownHost): Promise<number> {
    await new Promise<void>((resolve) => { this.server.listen(0, '127.0.0.1', resolve) })
    t.teardown(() => this.close())
    return (this.server.address() as AddressInfo).port
  }

  /** Sockets still open on the server's side. */
  get openSockets (): number { return this.#sockets.size }

  /** The next connection whose request head has arrived. */
  nextConnection (): Promise<RawConnection> {
    return new Promise((resolve) => { this.#waiters.push(resolve) })
  }

  close (): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    return new Promise((resolve) => { this.server.close(() => { resolve() }) })
  }
}

export interface ClientFrame { fin: boolean, opcode: number, masked: boolean, mask: Buffer, payload: Buffer }

/** Decodes whole client frames from `bytes` (trailing partial frame ignored), unmasking each payload. */
export function decodeClientFrames (bytes: Buffer): ClientFrame[] {
  const frames: ClientFrame[] = []
  let off = 0
  while (bytes.length - off >= 2) {
    const fin = (bytes[off] & 0x80) !== 0
    const opcode = bytes[off] & 0x0f
    const masked = (bytes[off + 1] & 0x80) !== 0
    let length = bytes[off + 1] & 0x7f
    let at = off + 2
    if (length === 126) { length = bytes.readUInt16BE(at); at += 2 } else if (length === 127) { length = Number(bytes.readBigUInt64BE(at)); at += 8 }
    const mask = masked ? bytes.subarray(at, at + 4) : Buffer.alloc(4)
    if (masked) at += 4
    if (bytes.length < at + length) break
    const payload = Buffer.from(bytes.subarray(at, at + length))
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4]
    frames.push({ fin, opcode, masked, mask: Buffer.from(mask), payload })
    off = at + length
  }
  return frames
}

/** A server-to-client frame (unmasked unless `mask` is given; `rsv` sets reserved bits). */
export function serverFrame (opcode: number, payload: Buffer | string, options: { fin?: boolean, mask?: Buffer, rsv?: number, length?: number } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload
  const length = options.length ?? data.length
  const lengthBytes = length > 0xffff ? 8 : length > 125 ? 2 : 0
  const head = Buffer.alloc(2 + lengthBytes + (options.mask === undefined ? 0 : 4))
  head[0] = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode
  head[1] = (options.mask === undefined ? 0 : 0x80) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127)
  if (lengthBytes === 2) head.writeUInt16BE(length, 2)
  if (lengthBytes === 8) head.writeBigUInt64BE(BigInt(length), 2)
  if (options.mask === undefined) return Buffer.concat([head, data])
  options.mask.copy(head, 2 + lengthBytes)
  const masked = Buffer.from(data)
  for (let i = 0; i < masked.length; i++) masked[i] ^= options.mask[i % 4]
  return Buffer.concat([head, masked])
}

/** Resolves once `cond()` holds (checked every 5 ms), or rejects after `timeoutMs`. */
export async function until (cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = performance.now() + timeoutMs
  while (!cond()) {
    if (performance.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
