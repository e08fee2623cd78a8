// Fallback upstream for the load test when nginx is not installed: `200` with a fixed 1 KB body on every
// request, keep-alive, nothing else. Usage: npx node loadtest/upstream-server.ts <port> [host]
//
// The body and headers are built once; the handler only writes them. One Node process does roughly a
// third of nginx's rate here, so with this upstream the "direct" row is the ceiling, not nginx's.

import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'

export const BODY_BYTES = 1024
const BODY = Buffer.alloc(BODY_BYTES, 'x')
const HEADERS: Record<string, string> = { 'content-type': 'text/plain', 'content-length': String(BODY_BYTES) }

function onRequest (req: IncomingMessage, res: ServerResponse): void {
  // Drain any request body so the connection stays reusable.
  req.resume()
  res.writeHead(200, HEADERS)
  res.end(BODY)
}

export function startUpstream (port: number, host: string): void {
  const server = createServer({ keepAliveTimeout: 65_000 }, onRequest)
  server.listen(port, host)
  const stop = (): void => { server.close(); server.closeAllConnections() }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

const port = Number(process.argv[2])
if (Number.isInteger(port) && port > 0) startUpstream(port, process.argv[3] ?? '127.0.0.1')
