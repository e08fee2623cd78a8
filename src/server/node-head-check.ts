import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { isChunkedOnly, isValidHostString, trimOws } from '../shared/http-syntax.ts'

// `--http-server node`: llhttp hands on heads that H1Server (and Go's server) refuse before the
// app. It takes two Host fields (node:http keeps the first) and any bytes in one, where RFC 9112
// 3.2 and Go answer 400 ("too many Host headers", "malformed Host header"); and it takes a
// Transfer-Encoding that is not exactly `chunked` (`gzip, chunked`, `chunked` + NBSP), where Go
// answers 501 and H1Server too. So the fallback checks the same on each request node:http parsed,
// before Sluice handles it. (What llhttp itself refuses is answered in node-client-error.ts.)

export interface HeadRefusal {
  readonly status: 400 | 501
  readonly message: string
}

const TOO_MANY_HOSTS: HeadRefusal = Object.freeze({ status: 400, message: 'too many Host headers' })
const MALFORMED_HOST: HeadRefusal = Object.freeze({ status: 400, message: 'malformed Host header' })
const UNSUPPORTED_TE: HeadRefusal = Object.freeze({ status: 501, message: 'unsupported transfer-encoding' })

/** Why the request's head is refused, or null. Reads rawHeaders (names as sent, in pairs). */
export function headRefusal (rawHeaders: readonly string[]): HeadRefusal | null {
  let hasHost = false
  let hasTe = false
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? ''
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (hasHost) return TOO_MANY_HOSTS
      hasHost = true
      if (!isValidHostString(rawHeaders[i + 1] ?? '')) return MALFORMED_HOST
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      if (hasTe || !isChunkedOnly(trimOws(rawHeaders[i + 1] ?? ''))) return UNSUPPORTED_TE
      hasTe = true
    }
  }
  return null
}

/**
 * Connections whose request was refused here: llhttp may still fail the body that follows (a
 * Transfer-Encoding it reads otherwise), and 'clientError' must not answer a second time.
 */
const refused = new WeakSet<Socket>()

export function wasRefused (socket: Socket): boolean { return refused.has(socket) }

/** Answers `refusal` and closes the connection, as H1Server answers a refused head. */
export function refuseRequest (req: IncomingMessage, res: ServerResponse, refusal: HeadRefusal): void {
  refused.add(req.socket)
  req.resume()
  const body = refusal.message + '\n'
  res.writeHead(refusal.status, { connection: 'close', 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}
