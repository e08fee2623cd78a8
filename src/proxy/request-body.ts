import type { Readable } from 'node:stream'
import { H1ServerRequest } from '../server/h1-server-request.ts'
import type { InboundRequest } from '../server/inbound.ts'

/**
 * HTTP/1.1 frames a body with Content-Length or Transfer-Encoding; an HTTP/2 request has one
 * unless its HEADERS frame ended the stream (the compat request exposes the stream).
 */
export function hasRequestBody (req: InboundRequest): boolean {
  if (req instanceof H1ServerRequest) return req.body !== null
  if (req.httpVersionMajor === 2) {
    const stream = (req as InboundRequest & { stream?: { endAfterHeaders?: boolean } }).stream
    return stream === undefined || stream.endAfterHeaders !== true
  }
  const contentLength = req.headers['content-length']
  return contentLength !== undefined ? contentLength !== '0' : req.headers['transfer-encoding'] !== undefined
}

/**
 * The body to send upstream, or null: H1Server's requests carry it as `body`; node's requests
 * (HTTP/1.1 with `--http-server node`, HTTP/2, upgrades) are themselves the stream.
 */
export function requestBody (req: InboundRequest): Readable | null {
  if (req instanceof H1ServerRequest) return req.body
  return hasRequestBody(req) ? req as unknown as Readable : null
}
