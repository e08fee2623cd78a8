import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ProxyServer } from 'http-proxy-3'
import type { BreakerWaiter } from '../admission/breaker.ts'
import type { QueueNode } from '../admission/waiter-queue.ts'

// An Upgrade request (websocket and friends) proxied with http-proxy-3, which does the
// handshake and byte piping well. The tunnel counts toward concurrency for as long as it is
// open, like Knative, and is never cut by the response-start or idle timeouts (Knative bug
// 16169 cut websockets whose handshake took longer than the response-start timeout).

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
    t.proxy.ws(this.req, this.socket, this.head, { target: t.target }, this.onProxyError)
  }

  /**
   * Before the upgrade (http-proxy-3 reports only those here): the client learns why with a 502
   * instead of a bare reset; http-proxy-3 then closes the socket after the write. A retry on
   * another endpoint is not possible on this path, as that close is http-proxy-3's.
   */
  #onProxyError (err: Error): void {
    this.owner.onTunnelError(this, err)
    const code = (err as { code?: unknown }).code
    const body = `upstream connection failed: ${typeof code === 'string' ? code : err.message}\n`
    const socket = this.socket
    if (!socket.destroyed && socket.writable) {
      socket.write(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
    }
  }

  /** Refuses the upgrade with a plain HTTP response on the raw socket. */
  reject (status: number, reason: string, body: string): void {
    if (!this.socket.destroyed) {
      this.socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
    }
    this.end()
  }

  end (): void {
    if (this.isEnded) return
    this.isEnded = true
    if (this.queued) this.owner.onTunnelDequeue(this)
    this.owner.onTunnelEnd(this)
  }
}

function noop (): void {}
