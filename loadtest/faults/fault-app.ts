// The user app behind the sidecar in the fault suite: node:http, keep-alive, one process that the
// suite kills and restarts. Usage: npx node loadtest/faults/fault-app.ts <port> [host]
//
//   GET  /           200, 1 KB body (the load path)
//   GET  /slow?ms=N  200 after N ms (holds a concurrency slot, so other requests queue)
//   GET  /big        200, 256 KB written in 16 KB chunks (a response a client can leave half-read);
//                    /big?kb=N for N KB (rounded to 16 KB chunks). Writes wait for 'drain', so a slow
//                    reader holds back the app as a real one would, and the app buffers one chunk.
//   POST (any path)  reads the whole body, then 200 with its byte count
//
// Responses and bodies are built once; this is a load target, not a feature.

import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'

const BODY = Buffer.alloc(1024, 'x')
const CHUNK = Buffer.alloc(16 * 1024, 'y')
const BIG_CHUNKS = 16
const HEADERS = { 'content-type': 'text/plain', 'content-length': String(BODY.length) }

function writeBig (res: ServerResponse, left: number): void {
  for (; left > 0; left--) {
    if (res.destroyed) return
    if (!res.write(CHUNK)) { res.once('drain', () => { writeBig(res, left - 1) }); return }
  }
  res.end()
}

function onRequest (req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/'
  if (req.method === 'POST') {
    let bytes = 0
    req.on('data', (c: Buffer) => { bytes += c.length })
    req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(String(bytes)) })
    req.on('error', () => { res.destroy() })
    return
  }
  req.resume()
  if (url.startsWith('/slow')) {
    const ms = Number(new URLSearchParams(url.slice(url.indexOf('?') + 1)).get('ms') ?? 10)
    setTimeout(() => { if (!res.destroyed) { res.writeHead(200, HEADERS); res.end(BODY) } }, ms)
    return
  }
  if (url.startsWith('/big')) {
    const q = url.indexOf('?')
    const chunks = q < 0 ? BIG_CHUNKS : Math.max(1, Math.round(Number(new URLSearchParams(url.slice(q + 1)).get('kb') ?? 256) / 16))
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(CHUNK.length * chunks) })
    writeBig(res, chunks)
    return
  }
  res.writeHead(200, HEADERS)
  res.end(BODY)
}

const port = Number(process.argv[2])
const server = createServer({ keepAliveTimeout: 65_000 }, onRequest)
server.listen(port, process.argv[3] ?? '127.0.0.1')
const stop = (): void => { server.close(); server.closeAllConnections() }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
