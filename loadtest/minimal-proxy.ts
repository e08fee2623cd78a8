import type { Dispatcher } from 'undici'
import { createDualServer } from '../src/server/h2c-sniffing-server.ts'
import { H1Upstream } from '../src/proxy/h1-upstream.ts'
import { silentLogger } from '../src/shared/logger.ts'
import type { InboundResponse } from '../src/server/inbound.ts'
// The floor for Sluice's design: H1Server + H1Upstream joined by a 10-line handler (no admission,
// probes, header rewrites, timeouts or stats). Measured against the sidecar with the same load,
// the difference is the cost of Sluice's features (server-findings-2026-11-23.md).
// Usage: node loadtest/minimal-proxy.ts <listen port> <upstream port> [connections=10]
const [listenPort, upstreamPort, connections] = process.argv.slice(2).map(Number)
const up = new H1Upstream({ host: '127.0.0.1', port: upstreamPort ?? 8080, maxConnections: connections ?? 10 })
class Ex implements Dispatcher.DispatchHandler {
  res: InboundResponse
  constructor (res: InboundResponse) { this.res = res }
  onRequestStart (): void {}
  onResponseStart (_c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    const flat: string[] = []
    for (const k in headers) { const v = headers[k]; if (typeof v === 'string') flat.push(k, v) }
    this.res.writeHead(status, flat)
  }
  onResponseData (_c: Dispatcher.DispatchController, chunk: Buffer): void { this.res.write(chunk) }
  onResponseEnd (): void { this.res.end() }
  onResponseError (): void { this.res.destroy() }
}
const dual = createDualServer({ impl: 'sluice', http2: false, keepAliveTimeoutMs: 65000, headersTimeoutMs: 60000, maxHeadBytes: 65536, logger: silentLogger() }, (req, res) => {
  const options: Dispatcher.DispatchOptions = { path: req.url ?? '/', method: req.method ?? 'GET', headers: req.rawHeaders, body: null, upgrade: null }
  up.dispatch(options, new Ex(res))
})
dual.net.listen(listenPort ?? 8012, '127.0.0.1')
process.on('SIGINT', () => { process.exit(0) })
