import type { InboundRequest, InboundResponse } from '../server/inbound.ts'
import { EMPTY_PROBE_BODY, ingressProbeHash, NO_HASH_BODY, writeProbeAnswer } from '../server/probe-answer.ts'
import { ACTIVATOR_PROBE_UA, AUTOSCALING_PROBE_UA, isKubeletProbe } from '../shared/probe-headers.ts'
import { monotonicMs } from '../shared/monotonic.ts'

// Answers health checks on the serving port itself, on any path, never forwarding them and never
// counting them in stats (Knative's Drainer + health.ProbeHandler):
//
// | request                                                      | serving             | draining |
// | UA kube-probe/…, K-Kubelet-Probe, UA Knative-Activator-Probe  | K-Network-Probe must | 503      |
// |   or Knative-Autoscaling-Probe                               | be `queue` (else 400);| shutting |
// |                                                              | ready 200 `queue`,  | down     |
// |                                                              | not ready 503       |          |
// | K-Network-Probe: probe (ingress)                             | 200, echo K-Network-Hash (400 if empty) | 503 |
// | anything else                                                | not a probe: proxied                     |

export interface ReadinessCheck {
  /** Runs (or joins) a readiness check of the user container. */
  check (): Promise<boolean>
}

export interface DrainState {
  readonly isDraining: boolean
}

const QUEUE_BODY = Buffer.from('queue')
const SHUTTING_DOWN_BODY = Buffer.from('shutting down\n')

/** True for kubelet, activator and autoscaler health checks (by UA or K-Kubelet-Probe). */
export function isHealthCheck (req: InboundRequest): boolean {
  if (isKubeletProbe(req.headers)) return true
  const ua = req.headers['user-agent']
  return ua !== undefined && (ua.startsWith(ACTIVATOR_PROBE_UA) || ua.startsWith(AUTOSCALING_PROBE_UA))
}

/** Told of each probe answered (the request log with enableProbeRequestLog); startMs from monotonicMs(). */
export type ProbeAnswerListener = (req: InboundRequest, status: number, bodyBytes: number, startMs: number) => void

export class ProbeResponder {
  readonly #readiness: ReadinessCheck
  readonly #drain: DrainState
  /** Set once before the port listens (useAnswerListener); one null check per probe otherwise. */
  #onAnswer: ProbeAnswerListener | null

  constructor (readiness: ReadinessCheck, drain: DrainState, onAnswer: ProbeAnswerListener | null = null) {
    this.#readiness = readiness
    this.#drain = drain
    this.#onAnswer = onAnswer
  }

  /** Calls `listener` after each answer from now on (the sidecar's probe request log, loaded with it). */
  useAnswerListener (listener: ProbeAnswerListener | null): void { this.#onAnswer = listener }

  #reply (req: InboundRequest, res: InboundResponse, status: number, body: Buffer, hash: string | null, startMs: number): void {
    writeProbeAnswer(res, status, body, hash)
    if (this.#onAnswer !== null) this.#onAnswer(req, status, body.length, startMs)
  }

  /** Answers `req` if it is a probe and returns true; false means: proxy it. */
  tryAnswer (req: InboundRequest, res: InboundResponse): boolean {
    if (isHealthCheck(req)) {
      const start = this.#onAnswer === null ? 0 : monotonicMs()
      if (this.#drain.isDraining) { this.#reply(req, res, 503, SHUTTING_DOWN_BODY, null, start); return true }
      const value = req.headers['k-network-probe']
      if (value !== 'queue') {
        this.#reply(req, res, 400, Buffer.from(`unexpected probe header value: ${value ?? ''}\n`), null, start)
        return true
      }
      this.#readiness.check().then(
        (ready) => { if (!res.destroyed) this.#reply(req, res, ready ? 200 : 503, ready ? QUEUE_BODY : EMPTY_PROBE_BODY, null, start) },
        () => { if (!res.destroyed) this.#reply(req, res, 503, EMPTY_PROBE_BODY, null, start) })
      return true
    }
    if (req.headers['k-network-probe'] === 'probe') {
      const start = this.#onAnswer === null ? 0 : monotonicMs()
      if (this.#drain.isDraining) { this.#reply(req, res, 503, SHUTTING_DOWN_BODY, null, start); return true }
      const hash = ingressProbeHash(req)
      if (hash === null) this.#reply(req, res, 400, NO_HASH_BODY, null, start)
      else this.#reply(req, res, 200, EMPTY_PROBE_BODY, hash, start)
      return true
    }
    return false
  }
}
