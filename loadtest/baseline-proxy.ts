// The floor a Node proxy can reach here: node:http server + undici `Pool.dispatch()` with a handler object
// that writes straight to the response (issue 3's "dispatch() prototype" row). No admission queue beyond
// undici's own (Pool with `connections` = CC), no header rewriting, no timeouts, no stats. The load test
// runs it as target `node-baseline` so Sluice's overhead over plain Node is measured in the same run,
// under the same noise. Usage: npx node loadtest/baseline-proxy.ts <port> <upstreamPort> [connections=10]

import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Pool } from 'undici'
import type { Dispatcher } from 'undici'

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection'])

class Forward implements Dispatcher.DispatchHandler {
  readonly res: ServerResponse

  constructor (res: ServerResponse) {
    this.res = res
  }

  onRequestStart (): void {}

  onResponseStart (_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    const flat: string[] = []
    for (const name in headers) {
      const v = headers[name]
      if (v === undefined || HOP_BY_HOP.has(name)) continue
      if (Array.isArray(v)) for (const x of v) flat.push(name, x)
      else flat.push(name, v)
    }
    this.res.writeHead(statusCode, flat)
  }

  onResponseData (_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.res.write(chunk)
  }

  onResponseEnd (): void {
    this.res.end()
  }

  onResponseError (_c: Dispatcher.DispatchController, err: Error): void {
    if (this.res.headersSent) { this.res.destroy(); return }
    this.res.writeHead(502, { 'content-type': 'text/plain' })
    this.res.end(`upstream error: ${err.message}\n`)
  }
}

const port = Number(process.argv[2])
const upstreamPort = Number(process.argv[3])
const connections = Number(process.argv[4] ?? 10)
if (!Number.isInteger(port) || !Number.isInteger(upstreamPort)) {
  process.stderr.write('usage: baseline-proxy.ts <port> <upstreamPort> [connections]\n')
  process.exit(2)
}
const ORIGIN = `http://127.0.0.1:${upstreamPort}`
const pool = new Pool(ORIGIN, { connections, pipelining: 1 })

function onRequest (req: IncomingMessage, res: ServerResponse): void {
  const method = req.method ?? 'GET'
  const hasBody = method !== 'GET' && method !== 'HEAD'
  const raw = req.rawHeaders
  const headers: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? ''
    if (!HOP_BY_HOP.has(name.toLowerCase())) headers.push(name, raw[i + 1] ?? '')
  }
  pool.dispatch({ origin: ORIGIN, path: req.url ?? '/', method, headers, body: hasBody ? req : null }, new Forward(res))
}

const server = createServer({ keepAliveTimeout: 65_000 }, onRequest)
server.listen(port, '127.0.0.1')
const stop = (): void => { server.close(); server.closeAllConnections(); void pool.close() }
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
