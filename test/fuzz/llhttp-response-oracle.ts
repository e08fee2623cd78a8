import { request, type IncomingMessage } from 'node:http'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { newOutcome, type ParseOutcome } from './parse-outcome.ts'

// llhttp's verdict on response bytes, from node:http's client (response mode, default strict
// settings): a loopback net server answers each connection's request with the case's bytes and
// closes; the client reads one response. What happens after that response (bytes it did not
// ask for) is not compared: the upstream client decides that, not the parser.

export class LlhttpResponseOracle {
  readonly server: Server
  /** The bytes to answer the next connection with. */
  wire: Buffer
  port: number

  constructor () {
    this.wire = Buffer.alloc(0)
    this.port = 0
    this.server = createServer((socket: Socket) => {
      const wire = this.wire
      socket.on('error', () => {})
      // Answer once the request head is in, then close (an EOF may end a close-delimited body).
      socket.once('data', () => { socket.end(wire) })
    })
  }

  async start (): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
  }

  async close (): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** Sends a `method` request and reports how node:http's client read the answer `wire`. */
  parse (wire: Buffer, method: string): Promise<ParseOutcome> {
    this.wire = wire
    const out = newOutcome()
    return new Promise<ParseOutcome>((resolve) => {
      let settled = false
      const settle = (): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(out)
      }
      let response: IncomingMessage | null = null
      const chunks: Buffer[] = []
      const record = (res: IncomingMessage): void => {
        if (out.messages.length > 0) return
        out.messages.push({
          method: String(res.statusCode ?? 0),
          url: '',
          httpMinor: res.httpVersionMinor,
          rawHeaders: groupFields(res.rawHeaders),
          body: Buffer.concat(chunks).toString('latin1'),
          rawTrailers: groupFields(res.rawTrailers),
        })
      }
      const fail = (err: Error & { code?: string }): void => {
        // Bytes after a complete response make node:http's client fail the socket (a parse error,
        // or a "double response") in the same read, before 'response' is emitted: the response
        // itself was read whole, and that is what counts. Look once the events queued so far ran.
        setImmediate(failAfterEvents, err)
      }
      const failAfterEvents = (err: Error & { code?: string }): void => {
        if (response !== null && response.complete) {
          for (let chunk: unknown = response.read(); chunk !== null; chunk = response.read()) if (Buffer.isBuffer(chunk)) chunks.push(chunk)
          record(response)
          settle()
          return
        }
        if (out.messages.length === 0 && out.ending === 'clean') {
          const code = err.code ?? 'ERR'
          // A body or head cut short by the close: node reports it as an abort or a reset.
          out.ending = code === 'ECONNRESET' || code === 'HPE_INVALID_EOF_STATE' ? 'incomplete' : 'error'
          out.code = code
        }
        settle()
      }
      const timer = setTimeout(() => { fail(Object.assign(new Error('oracle timeout'), { code: 'ORACLE_TIMEOUT' })) }, HANG_MS)
      const req = request({ host: '127.0.0.1', port: this.port, method, path: '/', agent: false })
      req.on('error', fail)
      req.on('response', (res: IncomingMessage) => {
        response = res
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', fail)
        res.on('aborted', () => fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })))
        res.on('end', () => {
          if (settled) return
          if (!res.complete) { fail(Object.assign(new Error('incomplete'), { code: 'ECONNRESET' })); return }
          record(res)
          settle()
        })
      })
      req.end()
    })
  }
}

const HANG_MS = 2000

/**
 * A raw field list in H1ResponseParser's shape: names lowercased, grouped in order of first
 * appearance, each name's values in order (so both sides compare as flat [name, value...] lists).
 */
export function groupFields (raw: readonly string[]): string[] {
  const groups = new Map<string, string[]>()
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? '').toLowerCase()
    const values = groups.get(name)
    if (values === undefined) groups.set(name, [raw[i + 1] ?? ''])
    else values.push(raw[i + 1] ?? '')
  }
  const out: string[] = []
  for (const [name, values] of groups) for (const v of values) out.push(name, v)
  return out
}
