import type { InboundRequest, InboundResponse } from '../server/inbound.ts'

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
const EMPTY = Buffer.alloc(0)
const HASH_HEADER = 'k-network-hash'

function reply (res: InboundResponse, status: number, body: Buffer, hash: string | null): void {
  const headers = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(body.length), 'cache-control', 'no-store']
  if (hash !== null) headers.push('K-Network-Hash', hash)
  res.writeHead(status, headers)
  res.end(body)
}

/** True for kubelet, activator and autoscaler health checks (by UA or K-Kubelet-Probe). */
export function isHealthCheck (req: InboundRequest): boolean {
  const h = req.headers
  if (h['k-kubelet-probe'] !== undefined) return true
  const ua = h['user-agent']
  if (ua === undefined) return false
  return ua.startsWith('kube-probe/') || ua.startsWith('Knative-Activator-Probe') || ua.startsWith('Knative-Autoscaling-Probe')
}

/** Told of each probe answered (the request log with enableProbeRequestLog); startMs from performance.now(). */
export type ProbeAnswerListener = (req: InboundRequest, status: number, bodyBytes: number, startMs: number) => void

export class ProbeResponder {
  readonly #readiness: ReadinessCheck
  readonly #drain: DrainState
  readonly #onAnswer: ProbeAnswerListener | null

  constructor (readiness: ReadinessCheck, drain: DrainState, onAnswer: ProbeAnswerListener | null = null) {
    this.#readiness = readiness
    this.#drain = drain
    this.#onAnswer = onAnswer
  }

  #reply (req: InboundRequest, res: InboundResponse, status: number, body: Buffer, hash: string | null, startMs: number): void {
    reply(res, status, body, hash)
    if (this.#onAnswer !== null) this.#onAnswer(req, status, body.length, startMs)
  }

  /** Answers `req` if it is a probe and returns true; false means: proxy it. */
  tryAnswer (req: InboundRequest, res: InboundResponse): boolean {
    if (isHealthCheck(req)) {
      const start = this.#onAnswer === null ? 0 : performance.now()
      if (this.#drain.isDraining) { this.#reply(req, res, 503, SHUTTING_DOWN_BODY, null, start); return true }
      const value = req.headers['k-network-probe']
      if (value !== 'queue') {
        this.#reply(req, res, 400, Buffer.from(`unexpected probe header value: ${value ?? ''}\n`), null, start)
        return true
      }
      this.#readiness.check().then(
        (ready) => { if (!res.destroyed) this.#reply(req, res, ready ? 200 : 503, ready ? QUEUE_BODY : EMPTY, null, start) },
        () => { if (!res.destroyed) this.#reply(req, res, 503, EMPTY, null, start) })
      return true
    }
    if (req.headers['k-network-probe'] === 'probe') {
      const start = this.#onAnswer === null ? 0 : performance.now()
      if (this.#drain.isDraining) { this.#reply(req, res, 503, SHUTTING_DOWN_BODY, null, start); return true }
      const hash = req.headers[HASH_HEADER]
      if (typeof hash !== 'string' || hash === '') {
        this.#reply(req, res, 400, Buffer.from('no K-Network-Hash header in probe request\n'), null, start)
        return true
      }
      this.#reply(req, res, 200, EMPTY, hash, start)
      return true
    }
    return false
  }
}
