import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ProxyServer } from 'http-proxy-3'
import type { Logger } from '../shared/logger.ts'

// Stands in for http-proxy-3 (the websocket handshake of upgrade tunnels) until an Upgrade request
// needs it: the first one starts a dynamic import() of the package, once (it loads node:http's
// client, `debug` and `follow-redirects`: ~12 MB and ~20 ms an activator that never proxies a
// websocket does not pay; issue 12). Upgrade requests that arrive while it loads wait here, their
// sockets paused, and go on in arrival order. Tunnels hand their connected socket to `proxy` only
// after the gate let their request through, so `proxy` is set by then. As the sidecar's
// upgrade-gate.ts, for the activator's own upgrade handler.

/** Upgrade requests that may wait for the first load; more are refused (their sockets closed). */
const MAX_WAITING = 1024

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

class WaitingUpgrade {
  readonly req: IncomingMessage
  readonly socket: Duplex
  readonly head: Buffer

  constructor (req: IncomingMessage, socket: Duplex, head: Buffer) {
    this.req = req
    this.socket = socket
    this.head = head
  }
}

export class WsProxyGate {
  readonly #next: UpgradeListener
  readonly #configure: (proxy: ProxyServer) => void
  readonly #logger: Logger
  #proxy: ProxyServer | null = null
  #loading: Promise<void> | null = null
  #waiting: WaitingUpgrade[] = []
  #isClosed = false

  /** `next`: the upgrade handler, called once the proxy is loaded; `configure`: its listeners, set once. */
  constructor (next: UpgradeListener, configure: (proxy: ProxyServer) => void, logger: Logger) {
    this.#next = next
    this.#configure = configure
    this.#logger = logger
    this.handle = this.handle.bind(this)
  }

  /** Whether http-proxy-3 has been loaded (tests). */
  get isLoaded (): boolean { return this.#proxy !== null }

  /** The loaded proxy. Tunnels reach it only after `handle` let their request through. */
  get proxy (): ProxyServer {
    if (this.#proxy === null) throw new Error('upgrade proxy used before it was loaded')
    return this.#proxy
  }

  /** node:http's 'upgrade' listener. */
  handle (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#proxy !== null) { this.#next(req, socket, head); return }
    if (this.#isClosed || this.#waiting.length >= MAX_WAITING) { socket.destroy(); return }
    socket.pause()
    this.#waiting.push(new WaitingUpgrade(req, socket, head))
    if (this.#loading === null) this.#loading = this.#load()
  }

  async #load (): Promise<void> {
    try {
      const { ProxyServer } = await import('http-proxy-3')
      if (this.#isClosed) return
      const proxy = new ProxyServer({ xfwd: true, ws: true })
      this.#configure(proxy)
      this.#proxy = proxy
    } catch (err) {
      this.#logger.error({ err }, 'cannot load the upgrade proxy')
      this.#loading = null
      this.#destroyWaiting()
      return
    }
    const waiting = this.#waiting
    this.#waiting = []
    for (const w of waiting) {
      if (w.socket.destroyed) continue
      // Left paused, as the sidecar's gate: the tunnel's pipe resumes it.
      this.#next(w.req, w.socket, w.head)
    }
  }

  #destroyWaiting (): void {
    const waiting = this.#waiting
    this.#waiting = []
    for (const w of waiting) w.socket.destroy()
  }

  close (): void {
    this.#isClosed = true
    this.#destroyWaiting()
    this.#proxy?.close()
  }
}
