import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ProxyServer } from 'http-proxy-3'
import { LazyUpgradeGate, type LazyUpgrades, type UpgradeListener } from '../proxy/lazy-upgrade-gate.ts'
import type { Logger } from '../shared/logger.ts'

// http-proxy-3 (the websocket handshake of the activator's upgrade tunnels), loaded at the first
// Upgrade request through a LazyUpgradeGate (issue 12). Tunnels hand their connected socket to
// `proxy` only after the gate let their request through, so `proxy` is set by then.

class ActivatorUpgrades implements LazyUpgrades<ProxyServer> {
  readonly what = 'the upgrade proxy'
  readonly #next: UpgradeListener
  readonly #configure: (proxy: ProxyServer) => void

  constructor (next: UpgradeListener, configure: (proxy: ProxyServer) => void) {
    this.#next = next
    this.#configure = configure
  }

  async load (): Promise<ProxyServer> {
    const { ProxyServer } = await import('http-proxy-3')
    const proxy = new ProxyServer({ xfwd: true, ws: true })
    this.#configure(proxy)
    return proxy
  }

  dispatch (_proxy: ProxyServer, req: IncomingMessage, socket: Duplex, head: Buffer): void { this.#next(req, socket, head) }

  close (proxy: ProxyServer): void { proxy.close() }
}

export class WsProxyGate {
  readonly #gate: LazyUpgradeGate<ProxyServer>
  /** node:http's 'upgrade' listener. */
  readonly handle: UpgradeListener

  /** `next`: the upgrade handler, called once the proxy is loaded; `configure`: its listeners, set once. */
  constructor (next: UpgradeListener, configure: (proxy: ProxyServer) => void, logger: Logger) {
    this.#gate = new LazyUpgradeGate(new ActivatorUpgrades(next, configure), logger)
    this.handle = this.#gate.handle
  }

  /** Whether http-proxy-3 has been loaded (tests). */
  get isLoaded (): boolean { return this.#gate.loaded !== null }

  /** The loaded proxy. Tunnels reach it only after `handle` let their request through. */
  get proxy (): ProxyServer {
    const proxy = this.#gate.loaded
    if (proxy === null) throw new Error('upgrade proxy used before it was loaded')
    return proxy
  }

  close (): void { this.#gate.close() }
}
