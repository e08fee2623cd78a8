import type { SweepNode } from './deadline-sweeper.ts'
import type { UpgradeTimeouts } from '../config/upgrade-timeouts.ts'
import { ANSWER_CODES } from '../shared/errors.ts'
import type { TimeoutPolicy } from './proxy-exchange.ts'
import type { UpgradeTunnel } from './upgrade-tunnel.ts'

// The deadlines of one upgrade request (websocket), for as long as its tunnel lives. Plain requests
// carry their deadlines themselves (ProxyExchange is a sweep node); tunnels are few, so one small
// object per tunnel is fine.
//
// Knative's timeout handler wraps upgrades like any request (pkg/http/handler/timeout.go), and a
// hijacked connection never writes through it: the revision's timeoutSeconds, and its
// responseStartTimeoutSeconds and idleTimeoutSeconds when set, all count from the request's start
// and end the websocket when they pass, whatever flows through it (Knative's e2e
// TestWebSocketWithTimeout; issues 16169, 16638). That is the default here ('knative'). With
// 'handshake' the timeouts bound the handshake only: once the upgrade response went to the client,
// the tunnel lives until either side closes it.


const QUEUE_TIMEOUT_BODY = 'request timed out waiting for capacity\n'

export class TunnelDeadline implements SweepNode {
  sweepPrev: SweepNode | null
  sweepNext: SweepNode | null
  isSwept: boolean
  readonly tunnel: UpgradeTunnel
  readonly #timeouts: TimeoutPolicy
  /** 'knative': the timeouts also end an open tunnel. */
  readonly #boundsLifetime: boolean

  constructor (tunnel: UpgradeTunnel, timeouts: TimeoutPolicy, mode: UpgradeTimeouts) {
    this.sweepPrev = null
    this.sweepNext = null
    this.isSwept = false
    this.tunnel = tunnel
    this.#timeouts = timeouts
    this.#boundsLifetime = mode === 'knative'
  }

  checkDeadlines (nowMs: number): void {
    const t = this.tunnel
    if (t.isEnded) return
    const elapsedMs = nowMs - t.startMs
    const policy = this.#timeouts
    if ((t.queued || t.isParked) && policy.queueMs > 0 && elapsedMs >= policy.queueMs) {
      t.reject(503, 'Service Unavailable', QUEUE_TIMEOUT_BODY, ANSWER_CODES.queueTimeout)
      return
    }
    if (!this.#boundsLifetime && t.hasResponded) return
    if (elapsedMs >= policy.totalMs ||
        (policy.responseStartMs > 0 && elapsedMs >= policy.responseStartMs) ||
        (policy.idleMs > 0 && elapsedMs >= policy.idleMs)) {
      t.expire(policy.timeoutBody)
    }
  }
}
