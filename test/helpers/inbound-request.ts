import type { InboundRequest } from '../../src/server/inbound.ts'

// A client request as node:http hands it to the proxy's handlers, for unit tests of code that reads
// requests (the request log's *http.Request model): rawHeaders as sent (latin1), headers lower-cased.

export interface Wire {
  method?: string
  url: string
  raw?: string[]
  version?: [number, number]
  remote?: [string, number]
  socket?: object
  stream?: object
}

/** A request as node:http hands it over. */
export function inbound (w: Wire): InboundRequest {
  const raw = w.raw ?? []
  const headers: Record<string, string> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = (raw[i] ?? '').toLowerCase()
    headers[k] = headers[k] === undefined ? raw[i + 1] ?? '' : `${headers[k]}, ${raw[i + 1] ?? ''}`
  }
  const [major, minor] = w.version ?? [1, 1]
  const req = {
    method: w.method ?? 'GET',
    url: w.url,
    headers,
    rawHeaders: raw,
    httpVersionMajor: major,
    httpVersionMinor: minor,
    socket: w.socket ?? { remoteAddress: (w.remote ?? ['127.0.0.1', 1234])[0], remotePort: (w.remote ?? ['127.0.0.1', 1234])[1] },
    readableDidRead: false,
    resume: () => undefined,
  }
  if (w.stream === undefined) return req
  // An HTTP/2 compat request also carries its stream (endAfterHeaders).
  const h2 = { ...req, stream: w.stream }
  return h2
}

