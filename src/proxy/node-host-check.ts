import type { IncomingMessage, ServerResponse } from 'node:http'
import { isValidHostString } from '../shared/http-syntax.ts'

// `--http-server node`: llhttp takes two Host fields (node:http keeps the first, the app would see
// whichever its own parser keeps) and any bytes in one. H1Server refuses both before the app, as
// RFC 9112 3.2 and Go's server do ("too many Host headers", "malformed Host header": 400), so the
// fallback checks the same on each request node:http parsed, before Sluice handles it.

const HOST = 'host'

/** Why the request's Host fields are refused, or null. Reads rawHeaders (names as sent, in pairs). */
export function hostRefusal (rawHeaders: readonly string[]): string | null {
  let seen = false
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? ''
    if (name.length !== 4 || name.toLowerCase() !== HOST) continue
    if (seen) return 'too many Host headers'
    seen = true
    if (!isValidHostString(rawHeaders[i + 1] ?? '')) return 'malformed Host header'
  }
  return null
}

/** Answers 400 with `message` and closes the connection, as H1Server answers a refused head. */
export function refuseRequest (req: IncomingMessage, res: ServerResponse, message: string): void {
  req.resume()
  const body = message + '\n'
  res.writeHead(400, { connection: 'close', 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}
