import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { newOutcome, type ParsedMessage, type ParseOutcome } from './parse-outcome.ts'

// llhttp's verdict on request bytes, from a real node:http server on 127.0.0.1 with its default
// (strict) parser settings: one connection per case, the bytes written at once, then a
// half-close. The server allows half-open connections, so a FIN ends the input without
// aborting the requests already read: every complete request is answered, an incomplete one
// fails at EOF (HPE_INVALID_EOF_STATE), and the server closes after the last answer.
//
// node:http's own request rules that are not llhttp's are left on (they decide what reaches an
// application), except `requireHostHeader`, which the comparison models for both sides.

/** How long a case may keep its connection open (a hang in the oracle, not a verdict). */
const HANG_MS = 2000

/**
 * Answers and closes after this response. (Destroying the socket instead would cut off pipelined
 * requests before this one whose bodies are still being read, and destroying a response that is
 * not yet the socket's leaves the connection open forever.)
 */
function refuse (res: ServerResponse, status: number): void {
  res.writeHead(status, { connection: 'close' })
  res.end()
}

interface CaseState {
  outcome: ParseOutcome
  pending: ParsedMessage[]
  complete: Set<ParsedMessage>
}

export class LlhttpRequestOracle {
  readonly server: Server
  /** Connections in progress, by the client's local port. */
  readonly cases: Map<number, CaseState>
  port: number

  constructor () {
    this.cases = new Map()
    this.port = 0
    this.server = createServer({ requireHostHeader: false, keepAlive: true }, (req, res) => { this.#onRequest(req, res) })
    // Not in @types/node; read by node:http's socketOnEnd (lib/_http_server.js).
    Object.assign(this.server, { httpAllowHalfOpen: true })
    // An Expect other than 100-continue: node:http answers 417 without a 'request' event; H1Server
    // answers 417 and closes. Both refuse the request.
    this.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      const c = this.cases.get(req.socket.remotePort ?? 0)
      if (c !== undefined && c.outcome.ending === 'clean') { c.outcome.ending = 'error'; c.outcome.code = 'NODE_EXPECTATION_FAILED' }
      refuse(res, 417)
    })
    this.server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
      const c = this.cases.get(socket.remotePort ?? 0)
      if (c !== undefined && c.outcome.ending === 'clean') {
        const code = err.code ?? 'ERR'
        c.outcome.ending = code === 'HPE_INVALID_EOF_STATE' ? 'incomplete' : code === 'HPE_CLOSED_CONNECTION' ? 'closed' : 'error'
        c.outcome.code = code
      }
      socket.destroy()
    })
  }

  async start (): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
  }

  async close (): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** Sends `wire` on a new connection and reports what the server made of it. */
  async parse (wire: Buffer): Promise<ParseOutcome> {
    const socket = connect(this.port, '127.0.0.1')
    socket.setNoDelay(true)
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    const state: CaseState = { outcome: newOutcome(), pending: [], complete: new Set() }
    this.cases.set(socket.localPort ?? 0, state)
    socket.on('data', () => {}) // answers are not read: the server's records say what it parsed
    socket.on('error', () => {})
    socket.end(wire)
    // The server closes once it answered everything; a case it leaves hanging is reported as such.
    const timer = setTimeout(() => {
      if (state.outcome.ending === 'clean') { state.outcome.ending = 'error'; state.outcome.code = 'ORACLE_TIMEOUT' }
      socket.destroy()
    }, HANG_MS)
    await new Promise<void>((resolve) => socket.once('close', () => resolve()))
    clearTimeout(timer)
    this.cases.delete(socket.localPort ?? 0)
    for (const m of state.pending) {
      if (!state.complete.has(m)) {
        // A request whose body never ended, and node said nothing (it closed after an earlier
        // answer and dropped the rest): the input stopped inside that body.
        if (state.outcome.ending === 'clean') { state.outcome.ending = 'incomplete'; state.outcome.code = 'NODE_BODY_UNFINISHED' }
        break
      }
      state.outcome.messages.push(m)
    }
    return state.outcome
  }

  #onRequest (req: IncomingMessage, res: ServerResponse): void {
    const c = this.cases.get(req.socket.remotePort ?? 0)
    if (c === undefined || c.outcome.ending !== 'clean') { refuse(res, 400); return }
    if (req.httpVersionMinor === 1 && req.headers.host === undefined) {
      // node:http's requireHostHeader (on by default): 400 and close.
      c.outcome.ending = 'error'
      c.outcome.code = 'NODE_MISSING_HOST'
      refuse(res, 400)
      return
    }
    const message: ParsedMessage = {
      method: req.method ?? '',
      url: req.url ?? '',
      httpMinor: req.httpVersionMinor,
      rawHeaders: req.rawHeaders,
      body: '',
      rawTrailers: [],
    }
    // Recorded in arrival order; only a request whose body ended counts (see `parse`).
    c.pending.push(message)
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('error', () => {})
    req.on('end', () => {
      message.body = Buffer.concat(chunks).toString('latin1')
      message.rawTrailers = req.rawTrailers
      c.complete.add(message)
      res.end()
    })
  }
}
