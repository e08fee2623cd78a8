import type { Dispatcher } from 'undici'
import { UpstreamConnectionError, UpstreamQueueFullError } from '../shared/errors.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'
import { CONN_IDLE, H1Connection, type ConnectionOwner } from './h1-upstream-connection.ts'
import { H1Request, REQ_QUEUED, type RequestOwner } from './h1-upstream-request.ts'
import type { SecureAddress, SecureDialer } from './secure-dialer.ts'
import type { Upstream } from './upstream.ts'

// A purpose-built HTTP/1.1 client for one origin (the user container next to the sidecar, or one
// pod behind the activator), in place of undici's Pool on the hot path. What it leaves out is
// what the profile showed: undici's Request object and its validation regexes, the dispatcher
// queue and `_resume` loop, llhttp's per-header wasm callbacks, and the raw-then-object header
// round trip. What it does:
//
// - keep-alive sockets (TCP_NODELAY, SO_KEEPALIVE), one request in flight per socket;
// - idle sockets are reused last-in first-out: the warmest socket goes first and the cold ones
//   age out at the tail, where the sweep finds them;
// - idle sockets close after `idleTimeoutMs` (default 4 s, under Node's 5 s keepAliveTimeout) so
//   we do not write on a socket the app is about to close (the keep-alive race, Knative issue
//   12414). One coarse interval per pool does this, not a timer per request or per socket;
// - at most `maxConnections` sockets (0 = no limit); requests beyond wait in a bounded FIFO;
// - the request head is one latin1 string built from the flat header list; CR/LF or other
//   bytes that could smuggle a header are refused before anything is sent;
// - request bodies: none, a Buffer/string (written with the head), or a Readable streamed with
//   backpressure, chunk-encoded when it has no Content-Length;
// - responses are parsed by H1ResponseParser; the handler gets undici's DispatchHandler
//   callbacks, with the request itself as the DispatchController.
//
// Error codes the exchange branches on: connect errors pass through (ECONNREFUSED), a socket
// that breaks or closes before the response ends is UND_ERR_SOCKET (replayable when nothing was
// consumed), a bad response is SLUICE_ERR_PROXY_UPSTREAM_PROTOCOL, a failed TLS handshake (with a
// SecureDialer: the activator's system-internal-tls) SLUICE_ERR_PROXY_UPSTREAM_TLS.

export interface H1UpstreamOptions {
  readonly host: string
  readonly port: number
  /** Max sockets; 0 = unlimited (the caller bounds requests in flight). Default 0. */
  readonly maxConnections?: number
  /** Requests that may wait for a socket when all are busy; beyond: UpstreamQueueFullError. Default 1024. */
  readonly maxQueued?: number
  /** Close a socket idle this long, ms; 0 = never. Default 4000. */
  readonly idleTimeoutMs?: number
  /** Default 10000 ms; 0 = the OS's. */
  readonly connectTimeoutMs?: number
  /** Bound on a response head or trailer section, bytes. Default 64 KiB. */
  readonly maxHeadBytes?: number
  /** Host header for requests that carry none. Default `host:port`. */
  readonly hostHeader?: string
  /** Connect with TLS through this dialer (secure-dialer.ts); null or unset = plain TCP. */
  readonly secure?: SecureDialer | null
  /** For tests: drives the idle sweep. */
  readonly timers?: Timers
}

export const DEFAULT_IDLE_TIMEOUT_MS = 4000
/** The idle sweep runs this many times per idle timeout: a socket closes after 7/8 to 8/8 of it. */
const SWEEPS_PER_IDLE_TIMEOUT = 8

export interface H1UpstreamStats {
  /** Sockets open or opening. */
  readonly connections: number
  readonly idle: number
  readonly queued: number
  /** Sockets opened since the start. */
  readonly opened: number
}

export class H1Upstream implements Upstream, ConnectionOwner, RequestOwner {
  readonly host: string
  readonly port: number
  /** With a SecureDialer: the address it dials (upgrade tunnels reuse it); else null. */
  readonly secureAddress: SecureAddress | null
  readonly #hostHeader: string
  readonly #maxConnections: number
  readonly #maxQueued: number
  readonly #maxHeadBytes: number
  readonly #connectTimeoutMs: number
  readonly #idleTimeoutMs: number
  readonly #timers: Timers
  readonly #secure: SecureDialer | null
  /** Every open connection, busy or idle (destroy() needs the busy ones too). */
  readonly #all = new Set<H1Connection>()
  // Idle connections: a doubly linked LIFO, newest at the head, oldest at the tail.
  #idleHead: H1Connection | null = null
  #idleTail: H1Connection | null = null
  #idleCount = 0
  // Requests waiting for a connection: a doubly linked FIFO (an aborted one unlinks in O(1)).
  #queueHead: H1Request | null = null
  #queueTail: H1Request | null = null
  #queued = 0
  #opened = 0
  /** Idle connections freed in this loop turn (isSettling), and whether onSettle is scheduled. */
  #settling = 0
  #isSettleScheduled = false
  /** Counts onSettle runs (one per loop turn while something settles). */
  #settleGen = 0
  #tick = 0
  #sweep: TimerHandle | null = null
  #isClosed = false
  #closeWaiters: Array<() => void> = []

  constructor (options: H1UpstreamOptions) {
    this.host = options.host
    this.port = options.port
    this.#hostHeader = options.hostHeader ?? (options.host.includes(':') ? `[${options.host}]:${options.port}` : `${options.host}:${options.port}`)
    const max = options.maxConnections ?? 0
    this.#maxConnections = max > 0 ? max : Number.POSITIVE_INFINITY
    this.#maxQueued = options.maxQueued ?? 1024
    this.#maxHeadBytes = options.maxHeadBytes ?? 64 * 1024
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
    this.#timers = options.timers ?? realTimers
    this.#secure = options.secure ?? null
    this.secureAddress = this.#secure === null ? null : Object.freeze({ host: options.host, port: options.port, dialer: this.#secure })
    this.onSweep = this.onSweep.bind(this)
    this.onSettle = this.onSettle.bind(this)
  }

  get stats (): H1UpstreamStats {
    return { connections: this.#all.size, idle: this.#idleCount, queued: this.#queued, opened: this.#opened }
  }

  get isClosed (): boolean { return this.#isClosed }

  dispatch (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const req = new H1Request(this, handler)
    req.start()
    if (req.isDone) return true // aborted from onRequestStart (and told so)
    const invalid = req.prepare(options, this.#hostHeader)
    if (invalid !== null) { req.fail(invalid); return true }
    if (this.#isClosed) {
      req.fail(new UpstreamConnectionError('UND_ERR_CLOSED', 'upstream client is closed'))
      return true
    }
    const conn = this.#popIdle()
    if (conn !== null) { conn.start(req); return true }
    // A connection freed in this turn is settling: wait for it rather than open another.
    if (this.#all.size < this.#maxConnections && this.#settling === 0) { this.#connect(req); return true }
    if (this.#queued >= this.#maxQueued) { req.fail(new UpstreamQueueFullError()); return false }
    this.#enqueue(req)
    return false
  }

  /**
   * Stops taking requests. Idle sockets close now; requests in flight and queued ones finish.
   * Resolves when the last socket has closed.
   */
  close (): Promise<void> {
    this.#isClosed = true
    while (this.#idleHead !== null) this.#idleHead.destroy()
    if (this.#all.size === 0 && this.#queued === 0) {
      this.#stopSweep()
      return Promise.resolve()
    }
    return new Promise((resolve) => { this.#closeWaiters.push(resolve) })
  }

  /** Closes every socket now; requests in flight and queued fail with UND_ERR_CLOSED. */
  destroy (): void {
    this.#isClosed = true
    const err = new UpstreamConnectionError('UND_ERR_CLOSED', 'upstream client destroyed')
    while (this.#queueHead !== null) this.#queueHead.fail(err)
    for (const conn of this.#all) {
      const req = conn.request
      if (req !== null) req.fail(err)
      else conn.destroy()
    }
  }

  // --- ConnectionOwner ---------------------------------------------------------------------------

  /**
   * A response ended on a reusable connection. It is not handed on at once: an app that closes
   * (or writes more) right after its response has its FIN or bytes in the kernel before the loop
   * reads them, and a request sent now would meet them (a replay is impossible once its body went
   * out). It idles as settling until a whole loop turn has passed: libuv stops reading a socket
   * after a short read and reads on (the EOF, the late bytes) only at the next poll, which comes
   * after this turn's setImmediate. So a connection settles at the second onSettle after it was
   * freed (the socket is then gone, or found unusable). One setImmediate per pool per turn, not per
   * request.
   */
  onConnectionFree (conn: H1Connection): void {
    if (this.#isClosed) { conn.destroy(); return }
    conn.isSettling = true
    conn.settleGen = this.#settleGen
    this.#settling++
    if (!this.#isSettleScheduled) {
      this.#isSettleScheduled = true
      setImmediate(this.onSettle)
    }
    conn.idleSinceTick = this.#tick
    conn.idlePrev = null
    conn.idleNext = this.#idleHead
    if (this.#idleHead !== null) this.#idleHead.idlePrev = conn
    else this.#idleTail = conn
    this.#idleHead = conn
    this.#idleCount++
  }

  onConnectionGone (conn: H1Connection): void {
    if (!this.#all.delete(conn)) return
    if (conn.isSettling) { conn.isSettling = false; this.#settling-- }
    if (conn.idlePrev !== null || conn.idleNext !== null || this.#idleHead === conn) this.#unlinkIdle(conn)
    // A socket slot opened up: the oldest waiting request gets a new connection.
    if (this.#queued > 0 && this.#all.size < this.#maxConnections) {
      const next = this.#dequeue()
      if (next !== null) this.#connect(next)
    }
    if (this.#all.size === 0) {
      this.#stopSweep()
      if (this.#isClosed && this.#queued === 0 && this.#closeWaiters.length > 0) {
        const waiters = this.#closeWaiters
        this.#closeWaiters = []
        for (let i = 0; i < waiters.length; i++) waiters[i]?.()
      }
    }
  }

  // --- RequestOwner -------------------------------------------------------------------------------

  dequeue (req: H1Request): void {
    if (req.queuePrev !== null) req.queuePrev.queueNext = req.queueNext
    else if (this.#queueHead === req) this.#queueHead = req.queueNext
    else return // not linked
    if (req.queueNext !== null) req.queueNext.queuePrev = req.queuePrev
    else this.#queueTail = req.queuePrev
    req.queuePrev = null
    req.queueNext = null
    this.#queued--
  }

  // --- internals -----------------------------------------------------------------------------------

  #connect (req: H1Request): void {
    const conn = new H1Connection(this, this.host, this.port, this.#maxHeadBytes, this.#connectTimeoutMs, this.#secure)
    this.#all.add(conn)
    this.#opened++
    if (this.#sweep === null && this.#idleTimeoutMs > 0) {
      this.#sweep = this.#timers.setInterval(this.onSweep, this.#idleTimeoutMs / SWEEPS_PER_IDLE_TIMEOUT)
    }
    conn.start(req)
  }

  /** The newest idle connection that has settled and can be trusted, or null. */
  #popIdle (): H1Connection | null {
    let conn = this.#idleHead
    while (conn !== null) {
      const next = conn.idleNext
      if (!conn.isSettling) {
        this.#unlinkIdle(conn)
        if (conn.isReusable) return conn
        // Half-closed, errored or holding unread input: its framing cannot be trusted.
        conn.destroy()
      }
      conn = next
    }
    return null
  }

  /** After the loop polled: settled connections take the waiting requests, or idle. */
  onSettle (): void {
    this.#isSettleScheduled = false
    const gen = ++this.#settleGen
    let conn = this.#idleHead
    while (conn !== null && this.#settling > 0) {
      const next = conn.idleNext
      if (conn.isSettling && conn.settleGen <= gen - 2) {
        conn.isSettling = false
        this.#settling--
        if (!conn.isReusable) {
          this.#unlinkIdle(conn)
          conn.destroy() // a waiting request gets a new connection (onConnectionGone)
        } else if (this.#queueHead !== null) {
          this.#unlinkIdle(conn)
          const req = this.#dequeue()
          if (req !== null) conn.start(req)
        }
      }
      conn = next
    }
    if (this.#settling > 0) {
      this.#isSettleScheduled = true
      setImmediate(this.onSettle)
      return
    }
    // Requests that waited for a settling connection that went away and got none: connect.
    while (this.#queueHead !== null && this.#all.size < this.#maxConnections) {
      const req = this.#dequeue()
      if (req !== null) this.#connect(req)
    }
  }

  #unlinkIdle (conn: H1Connection): void {
    if (conn.idlePrev !== null) conn.idlePrev.idleNext = conn.idleNext
    else this.#idleHead = conn.idleNext
    if (conn.idleNext !== null) conn.idleNext.idlePrev = conn.idlePrev
    else this.#idleTail = conn.idlePrev
    conn.idlePrev = null
    conn.idleNext = null
    this.#idleCount--
  }

  #enqueue (req: H1Request): void {
    req.state = REQ_QUEUED
    req.queuePrev = this.#queueTail
    req.queueNext = null
    if (this.#queueTail !== null) this.#queueTail.queueNext = req
    else this.#queueHead = req
    this.#queueTail = req
    this.#queued++
  }

  #dequeue (): H1Request | null {
    const req = this.#queueHead
    if (req === null) return null
    this.dequeue(req)
    return req
  }

  /** Closes sockets idle for a whole idle timeout (counted in sweep ticks: no clock read per request). */
  onSweep (): void {
    this.#tick++
    const limit = this.#tick - SWEEPS_PER_IDLE_TIMEOUT
    let conn = this.#idleTail
    while (conn !== null && conn.state === CONN_IDLE && conn.idleSinceTick <= limit) {
      conn.destroy() // unlinks it
      conn = this.#idleTail
    }
  }

  #stopSweep (): void {
    if (this.#sweep !== null) {
      this.#sweep.cancel()
      this.#sweep = null
    }
  }
}
