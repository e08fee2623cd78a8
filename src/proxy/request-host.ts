import type { InboundRequest } from '../server/inbound.ts'

/**
 * The request's Host. HTTP/2 carries it as `:authority` (node's compat request has no `host`
 * header then); Go's server makes either one r.Host, which Knative routes and rewrites by.
 */
export function requestHost (req: InboundRequest): string | undefined {
  const headers = req.headers
  const host = headers.host
  if (host !== undefined || req.httpVersionMajor !== 2) return host
  const authority = headers[':authority']
  return typeof authority === 'string' ? authority : undefined
}
