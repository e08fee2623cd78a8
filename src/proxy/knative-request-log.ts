import type { ObservabilityConfig } from '../config/observability-settings.ts'
import type { InboundRequest } from '../server/inbound.ts'
import { formatFloat } from '../go/go-fmt.ts'
import type { GoTemplate } from '../go/go-template.ts'
import { fromWire, GoExecError, GoRecord, type GoObject, type GoValue } from '../go/go-value.ts'
import { GoHttpRequest, MUTATIONS_ACTIVATOR, MUTATIONS_NONE, MUTATIONS_QUEUE_PROXY } from '../go/go-http-request.ts'
import type { ProxyExchange } from './proxy-exchange.ts'
import type { LineWriter } from '../shared/stdout-line.ts'

// Knative's request log (pkg/http/request_log.go): one line per request rendered from the operator's
// Go template (config-observability `logging.request-log-template`) and written as raw bytes to
// stdout, where Knative writes it (not through the logger), so log pipelines parse Sluice's lines as
// they parsed queue-proxy's. The template sees Go's shapes (RequestLogTemplateInput): .Request (an
// *http.Request, go-http-request.ts), .Response {Code, Size, Latency (float64 seconds)}, .Revision
// {Name, Namespace, Service, Configuration, PodName, PodIP} and .TraceID. Built only when the log is
// on: the request path pays one null check otherwise.
//
// Two sites, as in Knative (`RequestLogSite`): queue-proxy's (the sidecar: its own revision and
// pod; .TraceID from traceparent, else X-B3-TraceId) and the activator's (the revision it routed
// to, PodName/PodIP empty; .TraceID empty, as Knative's activator input getter leaves it). Each
// site's inner handlers leave their marks on the header map the template sees (go-http-request.ts).
//
// Where queue-proxy's log sits decides what it records: outside the drainer, so it sees the probes
// the drainer answers (logged only with enableProbeRequestLog) and the final status and body size
// the client got. A request whose client left before any response is logged with the status Go's
// ResponseRecorder reports for it: 500 when it was still waiting for admission (the breaker's
// error path writes 500), else 200 (the recorder's default; the proxy writes nothing for a
// cancelled request).

export interface RequestLogRevision {
  readonly Name: string
  readonly Namespace: string
  readonly Service: string
  readonly Configuration: string
  readonly PodName: string
  readonly PodIP: string
}

/** Logged once when the template does not parse (queue-proxy's words); the proxy serves without a request log. */
export const REQUEST_LOG_UNAVAILABLE = 'Error setting up request logger. Request logs will be unavailable.'

/** Whose request log this is: queue-proxy's (the sidecar) or the activator's. */
export type RequestLogSite = 'queue-proxy' | 'activator'

/** The request log OBSERVABILITY_CONFIG asks for; null when it is off. */
export function knativeRequestLogFor (o11y: ObservabilityConfig, write: LineWriter, site: RequestLogSite): KnativeRequestLog | null {
  return o11y.requestLogTemplate === null ? null : new KnativeRequestLog(o11y.requestLogTemplate, write, o11y.enableProbeRequestLog, site)
}

export class KnativeRequestLog {
  readonly #template: GoTemplate
  readonly #write: LineWriter
  readonly #logProbes: boolean
  /** MUTATIONS_* of a proxied request at this site. */
  readonly #mutations: number
  readonly #hasTraceId: boolean
  /** .Revision structs, built once per revision (callers pass one frozen object per revision). */
  readonly #revisionStructs = new WeakMap<RequestLogRevision, GoObject>()

  constructor (template: GoTemplate, write: LineWriter, logProbes: boolean, site: RequestLogSite) {
    this.#template = template
    this.#write = write
    this.#logProbes = logProbes
    this.#mutations = site === 'queue-proxy' ? MUTATIONS_QUEUE_PROXY : MUTATIONS_ACTIVATOR
    this.#hasTraceId = site === 'queue-proxy'
  }

  /** One finished proxied exchange: status and body bytes as the client saw them. */
  log (ex: ProxyExchange, nowMs: number, revision: RequestLogRevision): void {
    const request = new GoHttpRequest(ex.req, this.#mutations)
    if (!this.#logProbes && request.isProbe) return
    let code = ex.statusCode
    if (code === 0) code = ex.admittedMs < 0 ? 500 : 200 // the client left first (file comment)
    this.#emit(request, ex.req, code, ex.responseBytes, nowMs - ex.startMs, revision)
  }

  /** A request the server answered itself (a probe, as Knative's drainer does); elapsedMs from monotonicMs() (shared/monotonic.ts). */
  logAnswered (req: InboundRequest, code: number, size: number, elapsedMs: number, revision: RequestLogRevision): void {
    const request = new GoHttpRequest(req, MUTATIONS_NONE)
    if (!this.#logProbes && request.isProbe) return
    this.#emit(request, req, code, size, elapsedMs, revision)
  }

  #emit (request: GoHttpRequest, req: InboundRequest, code: number, size: number, elapsedMs: number, revision: RequestLogRevision): void {
    const latency = goSeconds(elapsedMs)
    const input = new RequestLogTemplateInput(request, new RequestLogResponse(BigInt(code), BigInt(size), latency), this.#revisionStruct(revision), this.#hasTraceId)
    let line: string
    try {
      line = this.#template.render(input)
    } catch (err) {
      if (!(err instanceof GoExecError)) throw err
      // Knative's line when the template fails at execution (%v of each value).
      line = `Invalid request log template: method: ${fromWire(req.method ?? 'GET')}, response code: ${code}, latency: ${formatFloat(latency)}, url: ${request.url().string()}\n`
    }
    this.#write(line)
  }

  #revisionStruct (revision: RequestLogRevision): GoObject {
    let struct = this.#revisionStructs.get(revision)
    if (struct === undefined) {
      struct = new GoRecord('*http.RequestLogRevision', {
        Name: revision.Name,
        Namespace: revision.Namespace,
        Service: revision.Service,
        Configuration: revision.Configuration,
        PodName: revision.PodName,
        PodIP: revision.PodIP,
      })
      this.#revisionStructs.set(revision, struct)
    }
    return struct
  }
}

/**
 * Test hook: the value Knative's template sees (RequestLogTemplateInput) for a request, a response
 * and a revision, as KnativeRequestLog builds it; the golden tests render Go's corpus over it.
 */
export function requestLogTemplateInput (request: GoHttpRequest, code: number, size: number, latencySeconds: number, revision: RequestLogRevision, site: RequestLogSite): GoObject {
  const rev = new GoRecord('*http.RequestLogRevision', { ...revision })
  return new RequestLogTemplateInput(request, new RequestLogResponse(BigInt(code), BigInt(size), latencySeconds), rev, site === 'queue-proxy')
}

/**
 * time.Duration.Seconds() of an elapsed time: Go measures whole nanoseconds and converts
 * sec + nsec/1e9, so latencies print as Go's do (0.001234567, never 0.0012345670000000001).
 */
export function goSeconds (elapsedMs: number): number {
  const ns = Math.max(0, Math.round(elapsedMs * 1e6))
  const sec = Math.floor(ns / 1e9)
  return sec + (ns - sec * 1e9) / 1e9
}

const INPUT_FIELDS: readonly string[] = Object.freeze(['Request', 'Response', 'Revision', 'TraceID'])
const RESPONSE_FIELDS: readonly string[] = Object.freeze(['Code', 'Size', 'Latency'])

/** Knative's RequestLogTemplateInput (a pointer: `{{.}}` prints its fields). */
class RequestLogTemplateInput implements GoObject {
  readonly goType = '*http.RequestLogTemplateInput'
  readonly request: GoHttpRequest
  readonly response: RequestLogResponse
  readonly revision: GoObject
  readonly #hasTraceId: boolean

  constructor (request: GoHttpRequest, response: RequestLogResponse, revision: GoObject, hasTraceId: boolean) {
    this.request = request
    this.response = response
    this.revision = revision
    this.#hasTraceId = hasTraceId
  }

  get traceId (): string { return this.#hasTraceId ? this.request.traceId : '' }

  goLookup (name: string, args: readonly GoValue[]): GoValue {
    if (args.length > 0) throw new GoExecError(`${name} has arguments but cannot be invoked as function`)
    switch (name) {
      case 'Request': return this.request
      case 'Response': return this.response
      case 'Revision': return this.revision
      case 'TraceID': return this.traceId
    }
    throw new GoExecError(`can't evaluate field ${name} in type *http.RequestLogTemplateInput`)
  }

  goPrint (): readonly GoValue[] {
    return [this.request, this.response, this.revision, this.traceId]
  }

  goFieldNames (): readonly string[] { return INPUT_FIELDS }
}

/** Knative's RequestLogResponse. */
class RequestLogResponse implements GoObject {
  readonly goType = '*http.RequestLogResponse'
  readonly code: bigint
  readonly size: bigint
  readonly latency: number

  constructor (code: bigint, size: bigint, latency: number) {
    this.code = code
    this.size = size
    this.latency = latency
  }

  goLookup (name: string, args: readonly GoValue[]): GoValue {
    if (args.length > 0) throw new GoExecError(`${name} has arguments but cannot be invoked as function`)
    switch (name) {
      case 'Code': return this.code
      case 'Size': return this.size
      case 'Latency': return this.latency
    }
    throw new GoExecError(`can't evaluate field ${name} in type *http.RequestLogResponse`)
  }

  goPrint (): readonly GoValue[] { return [this.code, this.size, this.latency] }

  goFieldNames (): readonly string[] { return RESPONSE_FIELDS }
}

