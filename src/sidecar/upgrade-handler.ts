import type { IncomingMessage } from 'node:http'
import { ANSWER_CODES } from '../shared/errors.ts'
import type { Duplex } from 'node:stream'
import type { Breaker } from '../admission/breaker.ts'
import type { DeadlineSweeper } from '../proxy/deadline-sweeper.ts'
import type { TimeoutPolicy } from '../proxy/proxy-exchange.ts'
import type { UpgradeTimeouts } from '../config/upgrade-timeouts.ts'
import { OUTCOME_CLIENT_GONE, outcomeName } from '../proxy/proxy-exchange.ts'
import { TunnelDeadline } from '../proxy/tunnel-deadline.ts'
import { UpgradeTunnel, type TunnelOwner, type TunnelTarget } from '../proxy/upgrade-tunnel.ts'
import type { Logger } from '../shared/logger.ts'
import type { TrafficRecorder } from './handler.ts'

export interface UpgradeHandlerOptions {
  target: TunnelTarget
  breaker: Breaker | null
  recorder: TrafficRecorder
  now: () => number
  drain: { readonly isDraining: boolean; touch (): void }
  /** The revision's timeouts bound each tunnel (queued, handshaking and, in 'knative' mode, open). */
  sweeper: DeadlineSweeper
  timeouts: TimeoutPolicy
  upgradeTimeouts: UpgradeTimeouts
  logger: Logger
}

/**
 * Upgrade requests (websockets) on the serving port: admitted through the same breaker as plain
 * requests, counted in stats while open, tracked so a drain can wait for them.
 */
export class UpgradeHandler implements TunnelOwner {
  readonly #o: UpgradeHandlerOptions
  readonly open = new Set<UpgradeTunnel>()
  readonly #deadlines = new Map<UpgradeTunnel, TunnelDeadline>()

  constructor (o: UpgradeHandlerOptions) {
    this.#o = o
    this.handle = this.handle.bind(this)
  }

  handle (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const o = this.#o
    if (o.drain.isDraining) o.drain.touch()
    const proxied = req.headers['k-proxy-request'] === 'activator'
    const t = new UpgradeTunnel(this, req, socket, head, proxied, o.now())
    this.open.add(t)
    o.recorder.reqIn(proxied, t.startMs)
    const deadline = new TunnelDeadline(t, o.timeouts, o.upgradeTimeouts)
    this.#deadlines.set(t, deadline)
    o.sweeper.add(deadline)
    const breaker = o.breaker
    if (breaker === null) { t.open(o.target); return }
    if (breaker.tryAcquire()) { t.holdsSlot = true; t.open(o.target); return }
    // Queued: watch the client, so one that leaves gives up its place at once (upgrade-tunnel.ts).
    if (breaker.enqueue(t)) { t.watchClient(); return }
    t.reject(503, 'Service Unavailable', 'pending request queue full\n', ANSWER_CODES.queueFull)
  }

  onTunnelAdmitted (t: UpgradeTunnel): void {
    if (t.isEnded) { this.#release(t); return }
    t.open(this.#o.target)
  }

  onTunnelDequeue (t: UpgradeTunnel): void {
    if (this.#o.breaker !== null) this.#o.breaker.cancel(t)
  }

  onTunnelError (_t: UpgradeTunnel, err: Error): void {
    this.#o.logger.warn({ err }, 'upgrade to the user container failed')
  }

  onTunnelEnd (t: UpgradeTunnel): void {
    this.open.delete(t)
    const deadline = this.#deadlines.get(t)
    if (deadline !== undefined) {
      this.#deadlines.delete(t)
      this.#o.sweeper.remove(deadline)
    }
    this.#release(t)
    const now = this.#o.now()
    this.#o.recorder.reqOut(t.proxied, now)
    if (t.outcome === OUTCOME_CLIENT_GONE) this.#o.logger.debug({ outcome: outcomeName(t.outcome), proxied: t.proxied, waitedMs: Math.round((now - t.startMs) * 1000) / 1000 }, 'upgrade client left while queued')
  }

  #release (t: UpgradeTunnel): void {
    if (t.holdsSlot) {
      t.holdsSlot = false
      if (this.#o.breaker !== null) this.#o.breaker.release()
    }
  }

  /** Cuts every open tunnel (end of drain). */
  destroyAll (): void {
    for (const t of this.open) t.socket.destroy()
  }
}
