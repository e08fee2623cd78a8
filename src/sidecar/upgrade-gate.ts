import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from '../shared/logger.ts'
import type { UpgradePath, UpgradePathOptions } from './upgrade-path.ts'

// Stands in for the sidecar's upgrade path until an Upgrade request needs it: the first one starts
// a dynamic import() of upgrade-path.ts (http-proxy-3 and the tunnel code, ~15-20 ms and a few MB
// that most pods never need; issue 12), once. Requests that arrive while it loads wait here, their
// sockets paused, and are handed over in arrival order. A sidecar that never sees an Upgrade
// request never loads it.

/** Upgrade requests that may wait for the first load; more are refused (their sockets closed). */
const MAX_WAITING = 1024
const EMPTY: ReadonlySet<unknown> = new Set()

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

export class UpgradeGate {
  readonly #options: UpgradePathOptions
  readonly #logger: Logger
  #path: UpgradePath | null = null
  #loading: Promise<void> | null = null
  #waiting: WaitingUpgrade[] = []
  #isClosed = false

  constructor (options: UpgradePathOptions, logger: Logger) {
    this.#options = options
    this.#logger = logger
    this.handle = this.handle.bind(this)
  }

  /** Open tunnels (queued, handshaking or open); empty until the path is loaded. */
  get open (): ReadonlySet<unknown> { return this.#path?.handler.open ?? EMPTY }

  /** Tunnels plus the requests waiting for the path to load. */
  get count (): number { return this.open.size + this.#waiting.length }

  /** Whether the upgrade path has been loaded (tests). */
  get isLoaded (): boolean { return this.#path !== null }

  /** node:http's 'upgrade' listener. */
  handle (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#path !== null) { this.#path.handler.handle(req, socket, head); return }
    if (this.#isClosed || this.#waiting.length >= MAX_WAITING) { socket.destroy(); return }
    socket.pause()
    this.#waiting.push(new WaitingUpgrade(req, socket, head))
    if (this.#loading === null) this.#loading = this.#load()
  }

  async #load (): Promise<void> {
    try {
      const { createUpgradePath } = await import('./upgrade-path.ts')
      if (this.#isClosed) return
      this.#path = createUpgradePath(this.#options, this.#logger)
    } catch (err) {
      this.#logger.error({ err }, 'cannot load the upgrade path')
      this.#loading = null
      this.#destroyWaiting()
      return
    }
    const waiting = this.#waiting
    this.#waiting = []
    for (const w of waiting) {
      if (w.socket.destroyed) continue
      this.#path.handler.handle(w.req, w.socket, w.head)
    }
  }

  #destroyWaiting (): void {
    const waiting = this.#waiting
    this.#waiting = []
    for (const w of waiting) w.socket.destroy()
  }

  /** Cuts every open tunnel and every waiting request (end of drain). */
  destroyAll (): void {
    this.#path?.handler.destroyAll()
    this.#destroyWaiting()
  }

  close (): void {
    this.#isClosed = true
    this.#destroyWaiting()
    this.#path?.close()
  }
}
