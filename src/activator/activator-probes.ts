import type { InboundRequest, InboundResponse } from '../server/inbound.ts'
import { EMPTY_PROBE_BODY, ingressProbeHash, NO_HASH_BODY, writeProbeAnswer } from '../server/probe-answer.ts'
import { isKubeletProbe } from '../shared/probe-headers.ts'

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

export class ActivatorProbes {
  readonly #health: ActivatorHealth

  constructor (health: ActivatorHealth) {
    this.#health = health
  }

  /** Answers `req` if it is a probe and returns true; false means: route it. */
  tryAnswer (req: InboundRequest, res: InboundResponse): boolean {
    const probe = req.headers['k-network-probe']
    if (probe === undefined && !isKubeletProbe(req.headers)) return false
    if (isKubeletProbe(req.headers)) {
      const error = this.#health.healthError()
      if (error === null) writeProbeAnswer(res, 200, EMPTY_PROBE_BODY, null)
      else writeProbeAnswer(res, 500, Buffer.from(error + '\n'), null)
      return true
    }
    if (probe === undefined || probe === '') return false
    if (probe === 'probe') {
      const hash = ingressProbeHash(req)
      if (hash === null) writeProbeAnswer(res, 400, NO_HASH_BODY, null)
      else writeProbeAnswer(res, 200, EMPTY_PROBE_BODY, hash)
      return true
    }
    if (probe === 'activator') {
      writeProbeAnswer(res, 200, ACTIVATOR_BODY, null)
      return true
    }
    writeProbeAnswer(res, 400, Buffer.from(`unexpected probe header value: ${JSON.stringify(htmlEscape(String(probe)))}\n`), null)
    return true
  }
}

// Knative writes the value as fmt's %q of html.EscapeString(val) (probe_handler.go). JSON.stringify
// quotes as %q does for the printable ASCII a header value holds.
const HTML_ESCAPES: Readonly<Record<string, string>> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&#34;' }

function htmlEscape (s: string): string {
  return s.replace(/[<>&'"]/g, (c) => HTML_ESCAPES[c] ?? c)
}
