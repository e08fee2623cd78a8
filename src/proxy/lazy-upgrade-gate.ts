import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from '../shared/logger.ts'

// Stands in for a mode's upgrade code (http-proxy-3 and the tunnels: node:http's client, `debug`,
// `follow-redirects`, ~12 MB and ~20 ms most pods never need; issue 12) until an Upgrade request
// needs it: the first one starts `load()`, once. Requests that arrive while it loads wait here,
// their sockets paused, and are handed over in arrival order (left paused: the tunnel's pipe
// resumes them). A process that never sees an Upgrade request never loads it. The sidecar's
// UpgradeGate and the activator's WsProxyGate are this gate with what each loads.

/** Upgrade requests that may wait for the first load; more are refused (their sockets closed). */
const MAX_WAITING = 1024

export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/** What a gate loads, and how it hands a request to it. */
export interface LazyUpgrades<T> {
  /** Named in the error line when loading fails ('the upgrade path'). */
  readonly what: string
  /** Loads and builds it (a dynamic import()); called once, at the first Upgrade request. */
  load (): Promise<T>
  /** Hands one request to what was loaded. */
  dispatch (loaded: T, req: IncomingMessage, socket: Duplex, head: Buffer): void
  close (loaded: T): void
}

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

export class LazyUpgradeGate<T> {
  readonly #upgrades: LazyUpgrades<T>
  readonly #logger: Logger
  #loaded: T | null = null
  #loading: Promise<void> | null = null
  #waiting: WaitingUpgrade[] = []
  #isClosed = false

  constructor (upgrades: LazyUpgrades<T>, logger: Logger) {
    this.#upgrades = upgrades
    this.#logger = logger
    this.handle = this.handle.bind(this)
  }

  /** What was loaded, or null before the first Upgrade request's load finished. */
  get loaded (): T | null { return this.#loaded }

  /** Requests waiting for the load. */
  get waiting (): number { return this.#waiting.length }

  /** node:http's 'upgrade' listener. */
  handle (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#loaded !== null) { this.#upgrades.dispatch(this.#loaded, req, socket, head); return }
    if (this.#isClosed || this.#waiting.length >= MAX_WAITING) { socket.destroy(); return }
    socket.pause()
    this.#waiting.push(new WaitingUpgrade(req, socket, head))
    if (this.#loading === null) this.#loading = this.#load()
  }

  async #load (): Promise<void> {
    let loaded: T
    try {
      loaded = await this.#upgrades.load()
    } catch (err) {
      this.#logger.error({ err }, `cannot load ${this.#upgrades.what}`)
      this.#loading = null
      this.destroyWaiting()
      return
    }
    if (this.#isClosed) { this.#upgrades.close(loaded); return }
    this.#loaded = loaded
    const waiting = this.#waiting
    this.#waiting = []
    for (const w of waiting) {
      if (w.socket.destroyed) continue
      this.#upgrades.dispatch(loaded, w.req, w.socket, w.head)
    }
  }

  /** Closes the sockets of the requests waiting for the load. */
  destroyWaiting (): void {
    const waiting = this.#waiting
    this.#waiting = []
    for (const w of waiting) w.socket.destroy()
  }

  close (): void {
    this.#isClosed = true
    this.destroyWaiting()
    if (this.#loaded !== null) this.#upgrades.close(this.#loaded)
  }
}
