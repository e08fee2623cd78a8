import type { InboundRequest, InboundResponse } from './inbound.ts'

// What the sidecar's and the activator's probe answers share: the reply's headers, and the ingress
// probe (`K-Network-Probe: probe`), which both answer as Knative's network probe handler does.

export const EMPTY_PROBE_BODY = Buffer.alloc(0)
/** Knative's words (networking's probe handler; the queue-proxy Drainer's serveKProbe says the same). */
export const NO_HASH_BODY = Buffer.from('a probe request must contain a non-empty "K-Network-Hash" header\n')

/** Writes a probe's answer: plain text, never cached, echoing `hash` as K-Network-Hash unless null. */
export function writeProbeAnswer (res: InboundResponse, status: number, body: Buffer, hash: string | null): void {
  const headers = ['content-type', 'text/plain; charset=utf-8', 'content-length', String(body.length), 'cache-control', 'no-store']
  if (hash !== null) headers.push('K-Network-Hash', hash)
  res.writeHead(status, headers)
  res.end(body)
}

/** An ingress probe's K-Network-Hash; null when it has none (answered 400 with NO_HASH_BODY, else 200 echoing it). */
export function ingressProbeHash (req: InboundRequest): string | null {
  const hash = req.headers['k-network-hash']
  return typeof hash === 'string' && hash !== '' ? hash : null
}
