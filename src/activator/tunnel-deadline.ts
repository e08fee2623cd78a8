import type { SweepNode } from '../proxy/deadline-sweeper.ts'
import type { TimeoutPolicy } from '../proxy/proxy-exchange.ts'
import type { UpgradeTunnel } from '../proxy/upgrade-tunnel.ts'

// The buffering deadline of an upgrade request (websocket) waiting for capacity, or parked after a
// failed connect until an endpoint has room. Plain requests carry their deadlines themselves
// (ProxyExchange is a sweep node); a tunnel is only watched while it waits, since an open websocket
// has no request timeout (Knative keeps hijacked connections open). Tunnels are
// few, so one small object per buffered tunnel is fine.

const QUEUE_TIMEOUT_BODY = 'request timed out waiting for capacity\n'

export class TunnelDeadline implements SweepNode {
  sweepPrev: SweepNode | null
  sweepNext: SweepNode | null
  isSwept: boolean
  readonly tunnel: UpgradeTunnel
  readonly #timeouts: TimeoutPolicy

  constructor (tunnel: UpgradeTunnel, timeouts: TimeoutPolicy) {
    this.sweepPrev = null
    this.sweepNext = null
    this.isSwept = false
    this.tunnel = tunnel
    this.#timeouts = timeouts
  }

  checkDeadlines (nowMs: number): void {
    const t = this.tunnel
    if (t.isEnded || !(t.queued || t.isParked)) return
    const waitedMs = nowMs - t.startMs
    const policy = this.#timeouts
    if (policy.queueMs > 0 && waitedMs >= policy.queueMs) t.reject(503, 'Service Unavailable', QUEUE_TIMEOUT_BODY)
    else if (waitedMs >= policy.totalMs) t.reject(504, 'Gateway Timeout', policy.timeoutBody.toString())
  }
}
