import type { IncomingMessage } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ProxyServer } from 'http-proxy-3'
import type { BreakerWaiter } from '../admission/breaker.ts'
import type { QueueNode } from '../admission/waiter-queue.ts'
import { ANSWER_CODES, ERROR_CODE_HEADER, UpstreamConnectionError } from '../shared/errors.ts'
import { connectedSocketAgent } from './connected-socket-agent.ts'
import { OUTCOME_CLIENT_GONE, OUTCOME_NONE } from './proxy-exchange.ts'
import type { SecureDialer } from './secure-dialer.ts'

// An Upgrade request (websocket and friends) proxied with http-proxy-3, which does the
// handshake and byte piping well. The tunnel counts toward concurrency for as long as it is
// open, like Knative; its owner bounds it with a TunnelDeadline (the revision's timeouts).
//
// While a tunnel waits before http-proxy-3 has its client socket (queued for a slot, connecting,
// parked for an endpoint with room), the tunnel reads that socket itself (`watchClient`): node:http
// hands over an upgraded socket unread, so without a reader the client's FIN (or reset) goes unseen
// and a departed client stays queued until its deadline. Go's server notices with its background
// read and cancels the request; so do we, at once (outcome client_gone, no slot taken). Bytes the
// client sends meanwhile (pipelined frames, sent before the 101) are kept and put back on the socket
// with `unshift` just before http-proxy-3 takes it, in order, behind the handshake's `head`
// (which http-proxy-3 unshifts in front of them).

/**
 * Early bytes a waiting tunnel keeps. Past this it stops reading: the kept bytes go back on the
 * socket, whose buffer then holds the client back (TCP backpressure), and a departure is seen only
 * at the deadline again. A websocket client sends little before the 101.
 */
export const MAX_EARLY_BYTES = 64 * 1024

export interface TunnelOwner {
  onTunnelAdmitted (t: UpgradeTunnel): void
  onTunnelDequeue (t: UpgradeTunnel): void
  onTunnelEnd (t: UpgradeTunnel): void
  /** The upstream handshake failed (connect refused, reset before 101); the client gets a 502 after this. */
  onTunnelError (t: UpgradeTunnel, err: Error): void
}

export interface TunnelTarget {
  proxy: ProxyServer
  target: string
}

/** An endpoint a tunnel connects to itself before the handshake (the activator's PodTracker). */
export interface TunnelEndpoint {
  /** `http://host:port`: http-proxy-3's target (the handshake's path and Host come from it). */
  readonly url: string
  /** Bare host (IPv6 without brackets) and port for net.connect. */
  readonly host: string
  readonly port: number
  /** Dial host:port with TLS through this (the activator's internal TLS); null = plain TCP. */
  readonly secure: SecureDialer | null
}

/** `onTunnelConnectFailed`'s answer when no endpoint has room yet: the tunnel waits for `retryOn`. */
export const TUNNEL_WAIT = 'wait'

/**
 * The side of `UpgradeTunnel.connect`: the tunnel connects to an endpoint itself and, when that
 * fails, asks here for another one; only a connected socket goes to http-proxy-3, which cannot be
 * retried once it has the client socket (it answers and closes it after a failed handshake).
 */
export interface TunnelConnector {
  readonly wsProxy: ProxyServer
  /** Per connect attempt. */
  readonly tunnelConnectTimeoutMs: number
  /**
   * The connect to the tunnel's endpoint failed (refused, unreachable, timed out): the next endpoint
   * to try, TUNNEL_WAIT (the connector calls `retryOn` once one has room), or null to give up (the
   * client then gets `502 upstream connection failed: <code>`).
   */
  onTunnelConnectFailed (t: UpgradeTunnel, err: Error): TunnelEndpoint | typeof TUNNEL_WAIT | null
}

function onSocketClose (this: Duplex & { [kTunnel]?: UpgradeTunnel }): void {
  const t = this[kTunnel]
  if (t !== undefined) t.end()
}
/**
 * Our side of the client connection ended: http-proxy-3 ends it when the upstream closes (or
 * after a refusal). Close it rather than wait for the client's FIN, which a client may never
 * send: the tunnel, and its admission slot, lasted as long as the client kept the socket open.
 * Go's ReverseProxy (Knative) closes both connections once either side is done, too.
 */
function onSocketFinish (this: Duplex): void { this.destroy() }
const kTunnel = Symbol('sluice.tunnel')

// The client socket while the tunnel watches it (`watchClient`); `this` is the socket.
function onClientReadable (this: Duplex & { [kTunnel]?: UpgradeTunnel }): void {
  const t = this[kTunnel]
  if (t !== undefined) t.onClientReadable()
}
/** The client's FIN (Go cancels on the background read's EOF, too) or a reset: it left. */
function onClientGone (this: Duplex & { [kTunnel]?: UpgradeTunnel }): void {
  const t = this[kTunnel]
  if (t !== undefined) t.onClientGone()
}

// The upstream socket while `connect` waits for it; `this` is the socket. A socket the tunnel no
// longer waits for (handed to http-proxy-3, or dropped) is ignored here: after the hand-off the
// error listener stays as a guard, since http.request listens for errors only from the next tick.
function onUpstreamConnect (this: Socket & { [kTunnel]?: UpgradeTunnel }): void {
  const t = this[kTunnel]
  if (t !== undefined && t.connecting === this) t.onUpstreamConnected(this)
}
function onUpstreamError (this: Socket & { [kTunnel]?: UpgradeTunnel }, err: Error): void {
  const t = this[kTunnel]
  if (t !== undefined && t.connecting === this) t.onUpstreamConnectFailed(this, err)
}
function onUpstreamTimeout (this: Socket & { [kTunnel]?: UpgradeTunnel }): void {
  // Still the tunnel's pending connect: a TLS socket is no longer `connecting` during its handshake.
  const t = this[kTunnel]
  if (this.connecting || (t !== undefined && t.connecting === this)) this.destroy(new UpstreamConnectionError('UND_ERR_CONNECT_TIMEOUT', 'connecting to the endpoint timed out'))
}

export class UpgradeTunnel implements BreakerWaiter {
  prev: QueueNode | null
  next: QueueNode | null
  queued: boolean
  readonly owner: TunnelOwner
  readonly req: IncomingMessage
  readonly socket: Duplex
  readonly head: Buffer
  readonly proxied: boolean
  readonly startMs: number
  holdsSlot: boolean
  isOpen: boolean
  isEnded: boolean
  /** The upstream socket being connected (`connect`); null before, after the hand-off, or unused. */
  connecting: Socket | null
  /** Endpoints tried after the first one (`connect`). */
  retries: number
  /** A failed connect is waiting for an endpoint with room (TUNNEL_WAIT); its deadline runs. */
  isParked: boolean
  /** How it ended, for the owner's logs: OUTCOME_CLIENT_GONE when the client left while it waited; else OUTCOME_NONE. */
  outcome: number
  /** `watchClient` is reading the client socket. */
  #isWatching: boolean
  /** What the client sent while watched, in order; null = nothing yet. */
  #early: Buffer[] | null
  #earlyBytes: number
  #connector: TunnelConnector | null
  #endpoint: TunnelEndpoint | null
  /** Bound once: http-proxy-3 calls it instead of its 'error' event for this tunnel. */
  readonly onProxyError: (err: Error) => void

  constructor (owner: TunnelOwner, req: IncomingMessage, socket: Duplex, head: Buffer, proxied: boolean, startMs: number) {
    this.prev = null
    this.next = null
    this.queued = false
    this.owner = owner
    this.req = req
    this.socket = socket
    this.head = head
    this.proxied = proxied
    this.startMs = startMs
    this.holdsSlot = false
    this.isOpen = false
    this.isEnded = false
    this.connecting = null
    this.retries = 0
    this.isParked = false
    this.outcome = OUTCOME_NONE
    this.#isWatching = false
    this.#early = null
    this.#earlyBytes = 0
    this.#connector = null
    this.#endpoint = null
    this.onProxyError = (err: Error) => { this.#onProxyError(err) }
    ;(socket as Duplex & { [kTunnel]?: UpgradeTunnel })[kTunnel] = this
    socket.on('close', onSocketClose)
    socket.on('finish', onSocketFinish)
    socket.on('error', noop) // errors surface as 'close'; http-proxy-3 logs via its own error event
  }

  onAdmit (): void {
    this.holdsSlot = true
    this.owner.onTunnelAdmitted(this)
  }

  open (t: TunnelTarget): void {
    if (this.isEnded) return
    this.isOpen = true
    this.#unwatchClient(true)
    t.proxy.ws(this.req, this.socket, this.head, { target: t.target }, this.onProxyError)
  }

  /**
   * Like `open`, but connects to `endpoint` first; a failed connect goes to
   * `connector.onTunnelConnectFailed`, which may name another endpoint. The client socket is only
   * watched meanwhile (`watchClient`: nothing written, what it sends kept), so http-proxy-3 still
   * gets the handshake's head bytes and any early frames, and a client that leaves is seen at once.
   */
  connect (endpoint: TunnelEndpoint, connector: TunnelConnector): void {
    if (this.isEnded) return
    this.isOpen = true
    this.#connector = connector
    this.watchClient()
    this.#connectTo(endpoint)
  }

  #connectTo (endpoint: TunnelEndpoint): void {
    const connector = this.#connector
    if (connector === null) return
    this.#endpoint = endpoint
    // noDelay as on every other upstream connection: websocket frames are small and latency-bound
    // (the secure dialer sets it too). A TLS socket is ready at 'secureConnect'.
    const secure = endpoint.secure
    const upstream = secure === null ? connect({ host: endpoint.host, port: endpoint.port, noDelay: true }) : secure.connect(endpoint.host, endpoint.port)
    ;(upstream as Socket & { [kTunnel]?: UpgradeTunnel })[kTunnel] = this
    this.connecting = upstream
    upstream.once(secure === null ? 'connect' : 'secureConnect', onUpstreamConnect)
    upstream.on('error', onUpstreamError)
    if (connector.tunnelConnectTimeoutMs > 0) {
      upstream.setTimeout(connector.tunnelConnectTimeoutMs)
      upstream.once('timeout', onUpstreamTimeout)
    }
  }

  /** A parked tunnel's endpoint with room: connect there (a retry). */
  retryOn (endpoint: TunnelEndpoint): void {
    if (this.isEnded) return
    this.isParked = false
    this.retries++
    this.#connectTo(endpoint)
  }

  /** (upstream socket callback) Connected: http-proxy-3 does the handshake over this socket. */
  onUpstreamConnected (upstream: Socket): void {
    this.connecting = null
    upstream.setTimeout(0)
    upstream.removeListener('timeout', onUpstreamTimeout)
    const connector = this.#connector
    const endpoint = this.#endpoint
    if (connector === null || endpoint === null) { upstream.destroy(); return }
    this.#unwatchClient(true)
    const agent = connectedSocketAgent(upstream)
    connector.wsProxy.ws(this.req, this.socket, this.head, { target: endpoint.url, agent }, this.onProxyError)
    // http-proxy-3 refused the request before sending it (not a websocket: it destroyed the client).
    if (!agent.isUsed) upstream.destroy()
  }

  /** (upstream socket callback) The connect failed: another endpoint, or the 502. */
  onUpstreamConnectFailed (upstream: Socket, cause: Error): void {
    this.connecting = null
    upstream.destroy()
    const connector = this.#connector
    if (this.isEnded || connector === null) return
    const secure = this.#endpoint === null ? null : this.#endpoint.secure
    const err = secure === null ? cause : secure.connectError(cause)
    const next = connector.onTunnelConnectFailed(this, err)
    if (next === TUNNEL_WAIT) { this.isParked = true; return }
    if (next !== null) {
      this.retries++
      this.#connectTo(next)
      return
    }
    this.reject(502, 'Bad Gateway', upstreamFailedBody(err), ANSWER_CODES.upstream)
  }

  /**
   * Before the upgrade (http-proxy-3 reports only those here): the client learns why with a 502
   * instead of a bare reset; http-proxy-3 then closes the socket after the write. A retry on
   * another endpoint is not possible on this path, as that close is http-proxy-3's: `connect`
   * retries connect failures before http-proxy-3 gets the client socket.
   */
  #onProxyError (err: Error): void {
    this.owner.onTunnelError(this, err)
    const body = upstreamFailedBody(err)
    const socket = this.socket
    if (!socket.destroyed && socket.writable) {
      socket.write(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${ERROR_CODE_HEADER}: ${ANSWER_CODES.upstream}\r\nConnection: close\r\n\r\n${body}`)
    }
  }

  /** Something was written to the client: the upgrade response (or a refusal) is on its way. */
  get hasResponded (): boolean {
    const written = (this.socket as Duplex & { bytesWritten?: number }).bytesWritten
    return typeof written === 'number' && written > 0
  }

  /** A timeout passed: 504 with `body` while nothing was answered yet, else the connection is cut. */
  expire (body: Buffer): void {
    if (this.isEnded) return
    if (!this.hasResponded) this.reject(504, 'Gateway Timeout', body.toString(), ANSWER_CODES.timeout)
    else this.socket.destroy()
  }

  /** Refuses the upgrade with a plain HTTP response on the raw socket, naming its code (ANSWER_CODES). */
  reject (status: number, reason: string, body: string, code: string): void {
    if (!this.socket.destroyed) {
      this.socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${ERROR_CODE_HEADER}: ${code}\r\nConnection: close\r\n\r\n${body}`)
    }
    this.end()
  }

  /**
   * Reads the client socket while the tunnel waits (queued, connecting, parked): a client that
   * leaves ends the tunnel at once (`onClientGone`); what it sends is kept for http-proxy-3. Stops
   * when http-proxy-3 takes the socket (`open`, `onUpstreamConnected`) or the tunnel ends.
   */
  watchClient (): void {
    if (this.#isWatching || this.isEnded) return
    this.#isWatching = true
    const socket = this.socket
    socket.on('readable', onClientReadable)
    socket.on('end', onClientGone)
    socket.on('error', onClientGone)
  }

  /** (client socket callback) Keeps what arrived, up to MAX_EARLY_BYTES. */
  onClientReadable (): void {
    const socket = this.socket
    while (this.#isWatching) {
      const chunk: unknown = socket.read()
      if (chunk === null) return
      // A raw socket yields Buffers (nobody set an encoding on it).
      if (!Buffer.isBuffer(chunk)) continue
      if (this.#early === null) this.#early = [chunk]
      else this.#early.push(chunk)
      this.#earlyBytes += chunk.length
      if (this.#earlyBytes >= MAX_EARLY_BYTES) this.#unwatchClient(true)
    }
  }

  /** (client socket callback) The client left while the tunnel waited: it leaves its queue or parking. */
  onClientGone (): void {
    if (this.isEnded) return
    this.outcome = OUTCOME_CLIENT_GONE
    this.end()
    this.socket.destroy()
  }

  /** Stops reading the client; `keep`: put what it sent back on the socket, ahead of anything unread. */
  #unwatchClient (keep: boolean): void {
    if (!this.#isWatching) return
    this.#isWatching = false
    const socket = this.socket
    socket.removeListener('readable', onClientReadable)
    socket.removeListener('end', onClientGone)
    socket.removeListener('error', onClientGone)
    const early = this.#early
    const earlyBytes = this.#earlyBytes
    this.#early = null
    this.#earlyBytes = 0
    if (!keep || early === null || socket.destroyed) return
    socket.unshift(early.length === 1 ? early[0] : Buffer.concat(early, earlyBytes))
  }

  end (): void {
    if (this.isEnded) return
    this.isEnded = true
    this.#unwatchClient(false)
    // The client left (or the activator closes) while we were connecting: nothing will use it.
    const upstream = this.connecting
    if (upstream !== null) {
      this.connecting = null
      upstream.destroy()
    }
    if (this.queued) this.owner.onTunnelDequeue(this)
    this.owner.onTunnelEnd(this)
  }
}

function upstreamFailedBody (err: Error): string {
  const code = 'code' in err ? err.code : undefined
  return `upstream connection failed: ${typeof code === 'string' ? code : err.message}\n`
}

function noop (): void {}
