import type { ProxyExchange } from './proxy-exchange.ts'
import type { InboundRequest } from '../server/inbound.ts'
import type { ObservabilityConfig } from '../config/observability-config.ts'
import { goString, GoTemplateError, type GoStruct, type GoTemplate } from '../shared/go-template.ts'

// Knative's request log (pkg/http/request_log.go): one line per request rendered from the operator's
// Go template (config-observability `logging.request-log-template`) and written as raw bytes to
// stdout, where Knative writes it, so log pipelines parse Sluice's lines as they parsed
// queue-proxy's. The template sees Go's shapes: .Request (an *http.Request), .Response {Code, Size,
// Latency}, .Revision {Name, Namespace, Service, Configuration, PodName, PodIP} and .TraceID.
// Built only when the log is on: the request path pays one null check otherwise. The sidecar logs
// its own revision and pod; the activator the revision it routed to (PodName/PodIP empty, as Knative's).

export interface RequestLogRevision {
  readonly Name: string
  readonly Namespace: string
  readonly Service: string
  readonly Configuration: string
  readonly PodName: string
  readonly PodIP: string
}

export type LineWriter = (line: string) => void

/** Knative writes the request log to stdout, not through its logger. */
export function writeStdout (line: string): void { process.stdout.write(line) }

/** The request log OBSERVABILITY_CONFIG asks for; null when it is off. */
export function knativeRequestLogFor (o11y: ObservabilityConfig, write: LineWriter): KnativeRequestLog | null {
  return o11y.requestLogTemplate === null ? null : new KnativeRequestLog(o11y.requestLogTemplate, write, o11y.enableProbeRequestLog)
}

export class KnativeRequestLog {
  readonly #template: GoTemplate
  readonly #write: LineWriter
  readonly #logProbes: boolean

  constructor (template: GoTemplate, write: LineWriter, logProbes: boolean) {
    this.#template = template
    this.#logProbes = logProbes
    this.#write = write
  }

  /** One finished exchange: status and body bytes as the client saw them, latency in seconds. */
  log (ex: ProxyExchange, nowMs: number, revision: RequestLogRevision): void {
    if (!this.#logProbes && isProbe(ex.req)) return
    this.write(ex.req, ex.statusCode, ex.responseBytes, (nowMs - ex.startMs) / 1000, revision)
  }

  write (req: InboundRequest, code: number, size: number, latencySeconds: number, revision: RequestLogRevision): void {
    const header = canonicalHeader(req.rawHeaders)
    const request = requestStruct(req, header)
    const data: GoStruct = {
      Request: request,
      Response: { Code: BigInt(code), Size: BigInt(size), Latency: latencySeconds },
      Revision: { ...revision },
      TraceID: traceId(header),
    }
    let line: string
    try {
      line = this.#template.render(data)
    } catch (err) {
      if (!(err instanceof GoTemplateError)) throw err
      // Knative's fallback line when the template fails at execution.
      line = `Invalid request log template: method: ${req.method ?? ''}, response code: ${code}, latency: ${latencySeconds}, url: ${req.url ?? ''}\n`
    }
    this.#write(line)
  }
}

/** Knative's header.IsProbe: a kubelet probe, or any K-Network-Probe value. */
function isProbe (req: InboundRequest): boolean {
  const h = req.headers
  const ua = h['user-agent']
  return (ua !== undefined && ua.startsWith('kube-probe/')) || h['k-kubelet-probe'] !== undefined || (h['k-network-probe'] ?? '') !== ''
}

/** Go's http.Header: canonical keys (`x-b3-traceid` -> `X-B3-Traceid`), Host left out as Go does. */
function canonicalHeader (raw: readonly string[]): Map<string, string[]> {
  const h = new Map<string, string[]>()
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = canonicalKey(raw[i] ?? '')
    if (name === 'Host') continue
    const list = h.get(name)
    if (list === undefined) h.set(name, [raw[i + 1] ?? ''])
    else list.push(raw[i + 1] ?? '')
  }
  return h
}

/** textproto.CanonicalMIMEHeaderKey for token names. */
export function canonicalKey (name: string): string {
  let out = ''
  let upper = true
  for (const c of name) {
    out += upper ? c.toUpperCase() : c.toLowerCase()
    upper = c === '-'
  }
  return out
}

function requestStruct (req: InboundRequest, header: Map<string, string[]>): GoStruct {
  const uri = req.url ?? '/'
  const q = uri.indexOf('?')
  const minor = req.httpVersionMajor === 2 ? 0 : req.httpVersionMinor
  const first = (name: string): string => header.get(name)?.[0] ?? ''
  const url: GoStruct & { [goString]: () => string } = {
    Scheme: '',
    Host: '',
    Path: q < 0 ? uri : uri.slice(0, q),
    RawQuery: q < 0 ? '' : uri.slice(q + 1),
    String: () => uri,
    [goString]: () => uri,
  }
  return {
    Method: req.method ?? 'GET',
    RequestURI: uri,
    URL: url,
    Proto: `HTTP/${req.httpVersionMajor}.${minor}`,
    ProtoMajor: BigInt(req.httpVersionMajor),
    ProtoMinor: BigInt(minor),
    Host: req.headers.host ?? req.headers[':authority']?.toString() ?? '',
    RemoteAddr: remoteAddr(req.socket),
    ContentLength: BigInt(contentLength(req, header)),
    Header: header,
    UserAgent: () => first('User-Agent'),
    Referer: () => first('Referer'),
  }
}

/** Go's Request.ContentLength: the declared length, -1 when unknown (chunked), 0 without a body. */
function contentLength (req: InboundRequest, header: Map<string, string[]>): number {
  const cl = header.get('Content-Length')?.[0]
  if (cl !== undefined && /^\d+$/.test(cl)) return Number(cl)
  if (header.has('Transfer-Encoding') || (req.httpVersionMajor === 2 && !['GET', 'HEAD'].includes(req.method ?? 'GET'))) return -1
  return 0
}

function remoteAddr (socket: InboundRequest['socket']): string {
  const addr = socket.remoteAddress ?? ''
  const port = socket.remotePort ?? 0
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`
}

/** Knative ExtractTraceID: W3C traceparent's trace id, else X-B3-TraceId. */
function traceId (header: Map<string, string[]>): string {
  const tp = header.get('Traceparent')?.[0] ?? ''
  if (tp !== '') {
    const parts = tp.split('-')
    if (parts.length >= 2) return parts[1] ?? ''
  }
  return header.get('X-B3-Traceid')?.[0] ?? ''
}
