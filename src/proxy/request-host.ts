import type { InboundRequest } from '../server/inbound.ts'
import { parseRequestTarget } from '../go/go-url.ts'

// The request's host, as Go's server sets r.Host, which Knative routes, logs and forwards by:
// - HTTP/2: `:authority`, else the Host field (node's compat request has no `host` header when
//   the client sent only `:authority`);
// - HTTP/1.x with an absolute-form target (`GET http://a.example/x`): the target's authority; the
//   Host field is ignored (RFC 9112 3.2.2; Go: r.Host = r.URL.Host);
// - otherwise the Host field. H1Server refuses a request with two (RFC 9112 3.2), so there is one.
// Routing (requestHost), the request log (go-http-request.ts) and the Host the app gets
// (absoluteTargetHost, buildUpstreamHeaders) all follow these rules, so they agree.

export function requestHost (req: InboundRequest): string | undefined {
  const headers = req.headers
  if (req.httpVersionMajor === 2) {
    const authority = headers[':authority']
    return typeof authority === 'string' && authority !== '' ? authority : headers.host
  }
  return absoluteTargetHost(req) ?? headers.host
}

/**
 * The authority of an HTTP/1.x absolute-form target, which replaces the Host field; null for the
 * usual origin-form target (checked on its first byte, so the common case costs nothing).
 */
export function absoluteTargetHost (req: InboundRequest): string | null {
  const url = req.url
  if (req.httpVersionMajor === 2 || url === undefined || url.length === 0 || url.charCodeAt(0) === 47 /* / */ || url === '*') return null
  if (req.method === 'CONNECT') return null
  const host = parseRequestTarget(req.method ?? 'GET', url).host
  return host === '' ? null : host
}
