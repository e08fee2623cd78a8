// Raw-socket HTTP/1.1 client for adversarial tests: writes exactly the bytes a test gives it
// (half requests, pipelined requests, garbage) and collects what comes back, with a small parser
// for the responses received so far.
import { connect, type Socket } from 'node:net'

export interface RawClient {
  readonly socket: Socket
  /** Every byte received, in order. */
  readonly chunks: Buffer[]
  /** Bytes received so far. */
  received: number
  isClosed: boolean
  /** Resolves when the socket has closed (either side). */
  readonly closed: Promise<void>
  /** Everything received, latin1. */
  text (): string
}

/** `allowHalfOpen`: the client does not answer the server's FIN with its own (it stays open until destroyed). */
export async function rawConnect (port: number, options: { allowHalfOpen?: boolean } = {}): Promise<RawClient> {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false })
  socket.setNoDelay(true)
  socket.on('error', () => { /* resets are expected here; 'close' follows */ })
  let onClosed: () => void = () => {}
  // text() is polled (every 10 ms by `until`) while megabytes arrive: only the chunks received
  // since the last call are decoded (latin1 maps each byte to one character, so pieces append).
  let decoded = ''
  let decodedChunks = 0
  const client: RawClient = {
    socket,
    chunks: [],
    received: 0,
    isClosed: false,
    closed: new Promise<void>((resolve) => { onClosed = resolve }),
    text () {
      if (decodedChunks < this.chunks.length) {
        decoded += Buffer.concat(this.chunks.slice(decodedChunks)).toString('latin1')
        decodedChunks = this.chunks.length
      }
      return decoded
    },
  }
  socket.on('data', (c: Buffer) => { client.chunks.push(c); client.received += c.length })
  socket.on('close', () => { client.isClosed = true; onClosed() })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('close', () => { reject(new Error('connect failed')) })
  })
  return client
}

export interface RawResponse {
  status: number
  /** Lower-cased names; repeated fields joined with ', '. */
  headers: Record<string, string>
  body: string
  /** The body's framing was complete (false: cut, or close-delimited). */
  isComplete: boolean
}

/**
 * Parses the responses in `raw` (latin1): Content-Length, chunked, or close-delimited bodies;
 * 1xx heads are returned too. Stops at the first incomplete or unparseable one (returned with
 * isComplete false when its head was whole).
 */
export function parseResponses (raw: string): RawResponse[] {
  const out: RawResponse[] = []
  let at = 0
  while (at < raw.length) {
    const headEnd = raw.indexOf('\r\n\r\n', at)
    if (headEnd < 0) break
    const lines = raw.slice(at, headEnd).split('\r\n')
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')
    if (m === null) break
    const headers: Record<string, string> = {}
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':')
      if (colon <= 0) continue
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
    }
    const status = Number(m[1])
    at = headEnd + 4
    if (status < 200 || status === 204 || status === 304) {
      out.push({ status, headers, body: '', isComplete: true })
      continue
    }
    const length = headers['content-length']
    if (length !== undefined) {
      const n = Number(length)
      const body = raw.slice(at, at + n)
      out.push({ status, headers, body, isComplete: body.length === n })
      at += n
      if (body.length < n) break
      continue
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      let body = ''
      let isComplete = false
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', at)
        if (lineEnd < 0) break
        const size = parseInt(raw.slice(at, lineEnd), 16)
        if (Number.isNaN(size)) break
        if (size === 0) {
          const end = raw.indexOf('\r\n\r\n', lineEnd)
          if (end >= 0) { at = end + 4; isComplete = true }
          break
        }
        if (raw.length < lineEnd + 2 + size + 2) break
        body += raw.slice(lineEnd + 2, lineEnd + 2 + size)
        at = lineEnd + 2 + size + 2
      }
      out.push({ status, headers, body, isComplete })
      if (!isComplete) break
      continue
    }
    out.push({ status, headers, body: raw.slice(at), isComplete: false })
    break
  }
  return out
}
