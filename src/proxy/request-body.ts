import type { IncomingMessage } from 'node:http'

/**
 * HTTP/1.1 frames a body with Content-Length or Transfer-Encoding; an HTTP/2 request has one
 * unless its HEADERS frame ended the stream (the compat request exposes the stream).
 */
export function hasRequestBody (req: IncomingMessage): boolean {
  if (req.httpVersionMajor === 2) {
    const stream = (req as IncomingMessage & { stream?: { endAfterHeaders?: boolean } }).stream
    return stream === undefined || stream.endAfterHeaders !== true
  }
  const contentLength = req.headers['content-length']
  return contentLength !== undefined ? contentLength !== '0' : req.headers['transfer-encoding'] !== undefined
}
