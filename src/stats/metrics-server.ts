// The metrics endpoint (queue-proxy's port 9090): `/metrics` and `/`, GET or HEAD.
//
// Format negotiation, first match wins:
//   1. `?format=protobuf|json|prometheus` (`text` = prometheus), for curl and browsers;
//   2. `Accept` containing `application/protobuf` (what Knative's autoscaler sends) -> the serialized
//      `metrics.Stat`, `Content-Type: application/protobuf` exactly, as the autoscaler requires;
//   3. `Accept` containing `application/json` -> the JSON object documented in stats-json.ts;
//   4. otherwise Prometheus text 0.0.4: Knative's queue gauges + Sluice's metrics.
// A source with several stats (an activator) has no single Stat: protobuf requests get 406.
//
// The stat parts were serialized when the period closed (stat-snapshot.ts); a scrape concatenates them with
// the ProxyMetrics rendering, which reads cached numbers only. So scrapes cost little, never touch the
// request path's state, and any number of autoscaler replicas may scrape at once.
//
// The handler takes any InboundRequest/InboundResponse: the sidecar serves it with H1Server (server/h1-port.ts),
// createMetricsServer with node:http, loaded when it is called (issue 12: importing this module loads neither).

import type { Server } from 'node:http'
import type { InboundRequest, InboundResponse } from '../server/inbound.ts'
import type { Logger } from '../shared/logger.ts'
import type { ProxyMetrics } from './proxy-metrics.ts'
import { PROMETHEUS_CONTENT_TYPE, renderProxyMetrics } from './prometheus-text.ts'
import type { StatSnapshot } from './stat-snapshot.ts'
import { renderProxyMetricsJson } from './stats-json.ts'

/** Knative's AutoscalingQueueMetricsPort. */
export const DEFAULT_METRICS_PORT = 9090

export const PROTOBUF_CONTENT_TYPE = 'application/protobuf'
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8'

/** What the endpoint serves. StatsReporter implements it; the activator can plug in one per process. */
export interface MetricsSource {
  /** The last closed period, already serialized. */
  snapshot (): StatSnapshot
  readonly proxyMetrics: ProxyMetrics | null
}

const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8'
const NOT_FOUND_BODY = Buffer.from('not found\n')
const METHOD_NOT_ALLOWED_BODY = Buffer.from('method not allowed\n')
const NOT_ACCEPTABLE_BODY = Buffer.from('no single Stat to encode as protobuf; use Prometheus text or JSON\n')
const INTERNAL_ERROR_BODY = Buffer.from('internal error\n')
const JSON_STATS_OPEN = Buffer.from('{"stats":')
const JSON_PROXY_KEY = Buffer.from(',"proxy":')
const JSON_CLOSE = Buffer.from('}')
const EMPTY = Buffer.alloc(0)

const FORMAT_PROTOBUF = 0
const FORMAT_JSON = 1
const FORMAT_PROMETHEUS = 2
type Format = typeof FORMAT_PROTOBUF | typeof FORMAT_JSON | typeof FORMAT_PROMETHEUS

function formatFromQuery (query: string): Format | null {
  const format = new URLSearchParams(query).get('format')
  if (format === 'json') return FORMAT_JSON
  if (format === 'protobuf') return FORMAT_PROTOBUF
  if (format === 'prometheus' || format === 'text') return FORMAT_PROMETHEUS
  return null
}

function formatFromAccept (accept: string | undefined): Format {
  if (accept === undefined) return FORMAT_PROMETHEUS
  if (accept.includes(PROTOBUF_CONTENT_TYPE)) return FORMAT_PROTOBUF
  if (accept.includes('application/json')) return FORMAT_JSON
  return FORMAT_PROMETHEUS
}

function send (req: InboundRequest, res: InboundResponse, status: number, contentType: string, body: Buffer, allow: string | null = null): void {
  if (allow === null) res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': body.length })
  else res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': body.length, Allow: allow })
  if (req.method === 'HEAD') res.end()
  else res.end(body)
}

function serve (source: MetricsSource, req: InboundRequest, res: InboundResponse): void {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  if (path !== '/metrics' && path !== '/') {
    send(req, res, 404, TEXT_CONTENT_TYPE, NOT_FOUND_BODY)
    return
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(req, res, 405, TEXT_CONTENT_TYPE, METHOD_NOT_ALLOWED_BODY, 'GET, HEAD')
    return
  }
  const format = (q === -1 ? null : formatFromQuery(url.slice(q + 1))) ?? formatFromAccept(req.headers.accept)
  const snapshot = source.snapshot()
  if (format === FORMAT_PROTOBUF) {
    if (snapshot.protobuf === null) send(req, res, 406, TEXT_CONTENT_TYPE, NOT_ACCEPTABLE_BODY)
    else send(req, res, 200, PROTOBUF_CONTENT_TYPE, snapshot.protobuf)
    return
  }
  const metrics = source.proxyMetrics
  if (format === FORMAT_JSON) {
    const proxy = Buffer.from(renderProxyMetricsJson(metrics), 'utf8')
    send(req, res, 200, JSON_CONTENT_TYPE,
      Buffer.concat([JSON_STATS_OPEN, snapshot.statsJson, JSON_PROXY_KEY, proxy, JSON_CLOSE]))
    return
  }
  const proxyText = metrics === null ? EMPTY : Buffer.from(renderProxyMetrics(metrics), 'utf8')
  send(req, res, 200, PROMETHEUS_CONTENT_TYPE, Buffer.concat([snapshot.prometheus, proxyText]))
}

/** A request listener serving `source`. Never throws: failures are logged and become a 500. */
export function createMetricsHandler (
  source: MetricsSource,
  logger: Logger | null = null,
): (req: InboundRequest, res: InboundResponse) => void {
  return function metricsHandler (req: InboundRequest, res: InboundResponse): void {
    try {
      serve(source, req, res)
    } catch (err) {
      // Nothing of the request path is involved; a broken renderer is a bug that shows up as 500s.
      logger?.error({ err }, 'metrics scrape failed')
      if (!res.headersSent) send(req, res, 500, TEXT_CONTENT_TYPE, INTERNAL_ERROR_BODY)
      else res.destroy()
    }
  }
}

/** An HTTP server for the metrics endpoint; the caller listens (`DEFAULT_METRICS_PORT`) and closes it. */
export function createMetricsServer (source: MetricsSource, logger: Logger | null = null): Server {
  return process.getBuiltinModule('node:http').createServer(createMetricsHandler(source, logger))
}
