import type { Server as HttpServer } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from '../shared/logger.ts'
import { H1ServerConnection, type ConnectionHost } from './h1-server-connection.ts'
import type { H1ServerRequest } from './h1-server-request.ts'
import type { H1ServerResponse } from './h1-server-response.ts'
import { monotonicMs } from '../shared/monotonic.ts'

// Sluice's HTTP/1.1 server for the proxy ports (`--http-server sluice`, the default): accepted
// sockets are read by H1ServerConnection instead of node:http, which saves the largest cost
// left on the request path (IncomingMessage + ServerResponse per request, measured in
// loadtest/results). What it does not do itself it hands to a node:http server on the same
// socket: Upgrade (websocket) and CONNECT requests go there, rewound to their first byte, and
// the node server's 'upgrade' listeners take them as before.
//
// Timeouts as node:http's server: an idle keep-alive connection closes after
// `keepAliveTimeoutMs`; a request head that does not arrive whole within `headersTimeoutMs`
// gets 408. One sweep per second checks them, so a request costs no timer.

export interface H1ServerOptions {
  /** Idle keep-alive connections close after this long (node: keepAliveTimeout). */
  keepAliveTimeoutMs: number
  /** A head must arrive within this long of its first byte (node: headersTimeout). */
  headersTimeoutMs: number
  /** Request line + fields, bytes (node: maxHeaderSize, 16 KiB); over it: 431. */
  maxHeadBytes: number
  /**
   * Takes Upgrade/CONNECT requests (its 'upgrade'/'connect' listeners). A function is called at the
   * first hand-off, so node:http is loaded only by a port that sees one (issue 12).
   */
  fallback: HttpServer | (() => HttpServer)
  logger: Logger
  /** Monotonic ms (tests may inject). */
  now?: () => number
}

export type H1Listener = (req: H1ServerRequest, res: H1ServerResponse) => void

const SWEEP_MS = 1000
/** How long a closing connection keeps reading (and dropping) what the client still sends. */
const LINGER_MS = 1000

export class H1Server implements ConnectionHost {
  readonly listener: H1Listener
  readonly maxHeadBytes: number
  readonly #o: H1ServerOptions
  readonly #now: () => number
  readonly #connections = new Set<H1ServerConnection>()
  #sweep: NodeJS.Timeout | null = null
  isClosing = false

  constructor (options: H1ServerOptions, listener: H1Listener) {
    this.#o = options
    this.listener = listener
    this.maxHeadBytes = options.maxHeadBytes
    this.#now = options.now ?? monotonicMs
  }

  nowMs (): number { return this.#now() }

  get connectionCount (): number { return this.#connections.size }

  /** Serves `socket`; `first` is what was already read from it (the protocol sniff). */
  accept (socket: Socket, first: Buffer | null): H1ServerConnection {
    const conn = new H1ServerConnection(this, socket)
    this.#connections.add(conn)
    if (this.#sweep === null) {
      this.#sweep = setInterval(() => { this.sweep() }, SWEEP_MS)
      this.#sweep.unref()
    }
    if (this.isClosing) conn.closeWhenIdle()
    if (first !== null && first.length > 0) conn.onData(first)
    conn.readShared()
    return conn
  }

  handOff (_conn: H1ServerConnection, socket: Socket, rewound: Buffer): void {
    socket.unshift(rewound)
    const fallback = this.#o.fallback
    const server = typeof fallback === 'function' ? fallback() : fallback
    server.emit('connection', socket)
    // The connection paused the socket to stop reading; node:http only listens for 'data' and
    // never resumes a socket paused explicitly, so without this the rewound head sits unread.
    socket.resume()
  }

  onConnectionClose (conn: H1ServerConnection): void {
    this.#connections.delete(conn)
  }

  onClientError (_conn: H1ServerConnection, status: number, message: string): void {
    this.#o.logger.debug({ status, reason: message }, 'bad request from client')
  }

  onListenerError (_conn: H1ServerConnection, err: unknown): void {
    this.#o.logger.error({ err }, 'request handler threw')
  }

  /** Closes idle connections now and the others after their current response (drain). */
  closeIdleConnections (): void {
    this.isClosing = true
    for (const conn of this.#connections) conn.closeWhenIdle()
  }

  closeAllConnections (): void {
    this.isClosing = true
    for (const conn of this.#connections) conn.destroy()
  }

  /** Stops the sweep (the listening socket belongs to the caller). */
  close (): void {
    if (this.#sweep !== null) { clearInterval(this.#sweep); this.#sweep = null }
  }

  /** Checks every connection's timeouts once (the 1 s interval calls it). Public so tests with an injected `now` can drive it. */
  sweep (): void {
    const now = this.#now()
    const o = this.#o
    for (const conn of this.#connections) {
      if (conn.isEnding) {
        if (now - conn.endingSinceMs >= LINGER_MS) conn.destroy()
      } else if (conn.isIdle) {
        if (conn.idleSinceMs >= 0 && now - conn.idleSinceMs >= o.keepAliveTimeoutMs) conn.destroy()
      } else if (conn.headStartMs >= 0 && now - conn.headStartMs >= o.headersTimeoutMs) {
        conn.timeOutHead()
      }
    }
    if (this.#connections.size === 0 && this.#sweep !== null) { clearInterval(this.#sweep); this.#sweep = null }
  }
}
