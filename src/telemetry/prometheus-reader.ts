import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import type { MetricProducer, MetricReader } from '@opentelemetry/sdk-metrics'
import type { PrometheusServerConfig } from '../config/prometheus-server-config.ts'
import { secureContextOptions } from '../config/tls-settings.ts'

// `prometheus`: a pull reader with its own listener, imported by otel-telemetry.ts only for that
// protocol (see grpc-exporters.ts for why a module of ours). The exporter serialises; the listener
// is ours, as knative/pkg's prometheus.NewServer: `GET /metrics` only (Go's mux answers other paths
// 404 and other methods 405), a 5 s header timeout (its ReadHeaderTimeout), HTTPS with client
// certificates when METRICS_PROMETHEUS_TLS_* say so (config/prometheus-server-config.ts).

const READ_HEADER_TIMEOUT_MS = 5_000

/** The exporter, which also closes the listener when the meter provider shuts down. */
class ExpositionReader extends PrometheusExporter {
  listener: Server | null = null

  override async onShutdown (): Promise<void> {
    const listener = this.listener
    if (listener === null || !listener.listening) return
    await new Promise<void>((resolve) => {
      listener.close(() => { resolve() })
      listener.closeAllConnections()
    })
  }
}

/**
 * Resolves once the exposition listens. A listener that cannot start (port in use, a certificate
 * that cannot be read) is reported to `onError` and the process serves on without it, as knative/pkg
 * runs its Prometheus server in a goroutine that only prints the error.
 */
export async function startPrometheusReader (config: PrometheusServerConfig, producer: MetricProducer, onError: (err: Error) => void): Promise<MetricReader> {
  // The request metrics come from `producer` (request-metrics.ts); the exporter's own sdk-metrics
  // copy reads it through the same MetricProducer interface.
  const reader = new ExpositionReader({ preventServerStart: true, metricProducers: [producer] })
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    if ((q < 0 ? url : url.slice(0, q)) !== '/metrics') {
      plain(res, 404, '404 page not found\n')
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      plain(res, 405, 'Method Not Allowed\n')
    } else {
      reader.getMetricsRequestHandler(req, res)
    }
  }
  let listener: Server
  try {
    listener = createListener(config, handler)
  } catch (err) {
    onError(err instanceof Error ? err : new Error(String(err)))
    return reader as unknown as MetricReader
  }
  listener.headersTimeout = READ_HEADER_TIMEOUT_MS
  await new Promise<void>((resolve) => {
    const failed = (err: Error): void => { onError(err); resolve() }
    listener.once('error', failed)
    // host '' = every address, IPv6 and IPv4 (Go's ":port").
    listener.listen(config.port, config.host === '' ? undefined : config.host, () => {
      listener.off('error', failed)
      listener.on('error', onError)
      resolve()
    })
  })
  reader.listener = listener
  // exporter-prometheus pins its own copy of sdk-metrics (2.12.0 beside our 2.12.1): the two
  // MetricReader classes differ only in the declarations of their private fields, and
  // MeterProvider uses a reader through its public methods.
  return reader as unknown as MetricReader
}

function createListener (config: PrometheusServerConfig, handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const tls = config.tls
  if (tls === null) return process.getBuiltinModule('node:http').createServer(handler)
  const { readFileSync } = process.getBuiltinModule('node:fs')
  const cert = readFileSync(tls.certFile)
  const key = readFileSync(tls.keyFile)
  const server = process.getBuiltinModule('node:https').createServer({
    ...secureContextOptions(tls.settings, cert, key),
    requestCert: tls.clientAuth !== 'none',
    // require: a client without a valid certificate fails the handshake (RequireAndVerifyClientCert).
    rejectUnauthorized: tls.clientAuth === 'require',
    ...(tls.clientCa === null ? {} : { ca: tls.clientCa }),
  }, handler)
  if (tls.clientAuth === 'optional') {
    // VerifyClientCertIfGiven: no certificate is fine, one that does not verify is not.
    server.on('secureConnection', (socket: TLSSocket) => {
      if (!socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0) socket.destroy()
    })
  }
  return server as unknown as Server
}

function plain (res: ServerResponse, status: number, body: string): void {
  res.statusCode = status
  res.setHeader('content-type', 'text/plain; charset=utf-8')
  res.setHeader('x-content-type-options', 'nosniff')
  res.end(body)
}
