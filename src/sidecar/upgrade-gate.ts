import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { LazyUpgradeGate, type LazyUpgrades } from '../proxy/lazy-upgrade-gate.ts'
import type { Logger } from '../shared/logger.ts'
import type { UpgradePath, UpgradePathOptions } from './upgrade-path.ts'

// The sidecar's upgrade path (upgrade-path.ts: http-proxy-3 and the tunnel code), loaded at the
// first Upgrade request through a LazyUpgradeGate (issue 12).

const EMPTY: ReadonlySet<unknown> = new Set()

class SidecarUpgrades implements LazyUpgrades<UpgradePath> {
  readonly what = 'the upgrade path'
  readonly #options: UpgradePathOptions
  readonly #logger: Logger

  constructor (options: UpgradePathOptions, logger: Logger) {
    this.#options = options
    this.#logger = logger
  }

  async load (): Promise<UpgradePath> {
    const { createUpgradePath } = await import('./upgrade-path.ts')
    return createUpgradePath(this.#options, this.#logger)
  }

  dispatch (path: UpgradePath, req: IncomingMessage, socket: Duplex, head: Buffer): void { path.handler.handle(req, socket, head) }

  close (path: UpgradePath): void { path.close() }
}

export class UpgradeGate {
  readonly #gate: LazyUpgradeGate<UpgradePath>
  /** node:http's 'upgrade' listener. */
  readonly handle: (req: IncomingMessage, socket: Duplex, head: Buffer) => void

  constructor (options: UpgradePathOptions, logger: Logger) {
    this.#gate = new LazyUpgradeGate(new SidecarUpgrades(options, logger), logger)
    this.handle = this.#gate.handle
  }

  /** Open tunnels (queued, handshaking or open); empty until the path is loaded. */
  get open (): ReadonlySet<unknown> { return this.#gate.loaded?.handler.open ?? EMPTY }

  /** Tunnels plus the requests waiting for the path to load. */
  get count (): number { return this.open.size + this.#gate.waiting }

  /** Whether the upgrade path has been loaded (tests). */
  get isLoaded (): boolean { return this.#gate.loaded !== null }

  /** Cuts every open tunnel and every waiting request (end of drain). */
  destroyAll (): void {
    this.#gate.loaded?.handler.destroyAll()
    this.#gate.destroyWaiting()
  }

  close (): void { this.#gate.close() }
}
