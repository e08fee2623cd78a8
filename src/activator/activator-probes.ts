import type { InboundRequest, InboundResponse } from '../server/inbound.ts'

// Probes the activator answers itself, on any path, before routing (Knative's activator chain:
// HealthHandler -> network probe handler -> ProbeHandler):
//
// | request                                             | answer                                     |
// | kubelet: UA `kube-probe/…` or a `K-Kubelet-Probe`   | 200; 500 + reason when unhealthy (draining, |
// |   header                                            |   or the health hook says so)              |
// | `K-Network-Probe: probe` (ingress)                  | 200 echoing `K-Network-Hash` (400 if empty) |
// | `K-Network-Probe: activator` (autoscaler, any other | 200 body `activator`                       |
// |   component checking the activator is in the path)  |                                            |
// | any other non-empty `K-Network-Probe`               | 400 `unexpected probe header value: "…"`   |
// | anything else                                       | not a probe: routed to a revision          |

export interface ActivatorHealth {
  /** null when healthy, else the reason (Knative: "received SIGTERM", websocket not connected). */
  healthError (): string | null
}

const ACTIVATOR_BODY = Buffer.from('activator')
const EMPTY = Buffer.alloc(0)
const NO_HASH_BODY = Buffer.from('a probe request must contain a non-empty "K-Network-Hash" header\n')

function reply (res: InboundResponse, status: number, body: Buffer, hash: string | null): void {
  const headers = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(body.length), 'cache-control', 'no-store']
  if (hash !== null) headers.push('K-Network-Hash', hash)
  res.writeHead(status, headers)
  res.end(body)
}

/** Knative's IsKubeletProbe: the kubelet's user agent or the header Knative adds to kubelet probes. */
export function isKubeletProbe (req: InboundRequest): boolean {
  const h = req.headers
  if (h['k-kubelet-probe'] !== undefined) return true
  const ua = h['user-agent']
  return ua !== undefined && ua.startsWith('kube-probe/')
}

export class ActivatorProbes {
  readonly #health: ActivatorHealth

  constructor (health: ActivatorHealth) {
    this.#health = health
  }

  /** Answers `req` if it is a probe and returns true; false means: route it. */
  tryAnswer (req: InboundRequest, res: InboundResponse): boolean {
    const probe = req.headers['k-network-probe']
    if (probe === undefined && !isKubeletProbe(req)) return false
    if (isKubeletProbe(req)) {
      const error = this.#health.healthError()
      if (error === null) reply(res, 200, EMPTY, null)
      else reply(res, 500, Buffer.from(error + '\n'), null)
      return true
    }
    if (probe === undefined || probe === '') return false
    if (probe === 'probe') {
      const hash = req.headers['k-network-hash']
      if (typeof hash !== 'string' || hash === '') reply(res, 400, NO_HASH_BODY, null)
      else reply(res, 200, EMPTY, hash)
      return true
    }
    if (probe === 'activator') {
      reply(res, 200, ACTIVATOR_BODY, null)
      return true
    }
    reply(res, 400, Buffer.from(`unexpected probe header value: ${JSON.stringify(probe)}\n`), null)
    return true
  }
}
