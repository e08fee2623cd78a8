import {
  ROOT_CONTEXT, SamplingDecision, SpanKind, trace, ValueType,
  type Attributes, type Link, type SpanContext, type TraceState,
} from '@opentelemetry/api'
import { getStringFromEnv, W3CTraceContextPropagator, type InstrumentationScope } from '@opentelemetry/core'
import { defaultResource, detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources'
import { MeterProvider, PeriodicExportingMetricReader, type MetricProducer, type MetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics'
import {
  AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, RandomIdGenerator, TraceIdRatioBasedSampler,
  type Sampler, type SpanExporter, type SpanProcessor,
} from '@opentelemetry/sdk-trace'
import type { PrometheusServerConfig } from '../config/prometheus-server-config.ts'
import type { MetricsExportConfig, TelemetryConfig, TracingExportConfig } from '../config/telemetry-config.ts'
import { splitHostPort } from '../config/telemetry-config.ts'
import { parseGoFloat } from '../go/go-parse.ts'
import type { ExchangeTelemetry, TelemetryExchange, TelemetryHooks, TelemetryRevision } from '../proxy/exchange-telemetry.ts'
import type { Logger } from '../shared/logger.ts'
import { SpanRecord } from './span-record.ts'
import { StdoutSpanExporter } from './stdout-span-exporter.ts'
import { GaugeFamily, HistogramFamily, RequestMetricsProducer, SumFamily, type AnyFamily, type ScopeFamilies } from './request-metrics.ts'

// Knative's request telemetry with the OpenTelemetry JS SDK, loaded only when config-observability
// exports something (load-telemetry.ts). What each site emits is what Knative's Go code emits
// (knative/serving v1.2x, otelhttp v0.69.0):
//
// queue-proxy (the sidecar)              activator
//   span "<METHOD>" (server, otelhttp)     span "<METHOD>" (server, otelhttp) + kn.* labels
//     span kn.queueproxy.proxy               span throttler_try (until admitted; Error if refused)
//       span kn.queueproxy.wait (CC > 0)     span activator_proxy
//       span "HTTP <METHOD>" (client)          span "<METHOD> <path>" (client)
//   http.server.request.duration / .body.size / response.body.size (otelhttp handler; the
//     activator's with kn.service.name, kn.configuration.name, kn.revision.name, k8s.namespace.name)
//   http.client.request.duration / .body.size (queue-proxy's otelhttp transport)
//   kn.serving.invocation.duration,        kn.revision.request.queued, kn.revision.request.active
//   kn.serving.queue.depth                 kn.revision.request.concurrency (concurrency reporter, each period)
//                                          kn.activator.stats.conn.reachable / .errors (autoscaler websocket)
//
// The client span's context goes to the app / pod as W3C traceparent (+ tracestate), replacing the
// incoming one; the incoming one is the server span's parent. Probes never become exchanges, so
// they are not measured or traced (Knative filters them).

export type TelemetrySite = 'queue-proxy' | 'activator'

export interface OtelTelemetryOptions {
  readonly site: TelemetrySite
  readonly config: TelemetryConfig
  /** Resource attributes of this process (knative's res() / resource.Default()). */
  readonly resource: Readonly<Record<string, string>>
  /** Where `prometheus` listens (config/prometheus-server-config.ts); null unless the metrics protocol is `prometheus`. */
  readonly prometheus: PrometheusServerConfig | null
  /** The breaker's in-flight count (kn.serving.queue.depth); null without a breaker (CC 0) or in the activator. */
  readonly inFlight: (() => number) | null
  /** The upstream the sidecar proxies to (client span and metric attributes); ignored in the activator. */
  readonly upstreamHost: string
  readonly upstreamPort: number
  /** `stdout` tracing's line writer. */
  readonly writeLine: (line: string) => void
  readonly logger: Logger
}

const OTELHTTP_SCOPE = 'go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp'
const OTELHTTP_VERSION = '0.69.0'
const QUEUE_SCOPE = 'knative.dev/serving/pkg/queue'
const ACTIVATOR_SCOPE = 'knative.dev/serving/pkg/activator'
/** otelhttp's and Knative's latency buckets (seconds). */
const LATENCY_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'])

/** Builds the providers and exporters; resolves once a Prometheus listener (if any) is up. */
export async function createOtelTelemetry (o: OtelTelemetryOptions): Promise<TelemetryHooks> {
  const resource = buildResource(o.resource)
  let families: Families | null = null
  let meterProvider: MeterProvider | null = null
  if (o.config.metrics.protocol !== 'none') {
    families = createFamilies(o.site, o.config.metrics.protocol === 'prometheus')
    const producer = new RequestMetricsProducer(resource, families.scopes)
    // The SDK hosts the reader and its exporter; the request metrics come from the producer.
    meterProvider = new MeterProvider({ resource, readers: [await metricReaderFor(o.config.metrics, o, producer)] })
  }
  // Spans are recorded by OtelExchange as SpanRecords (span-record.ts) and handed to the SDK's
  // batch processor and exporter; the SDK's TracerProvider and Tracer are not used.
  const tracing = o.config.tracing.protocol === 'none'
    ? null
    : new Tracing(
      samplerFor(o.config.tracing),
      new BatchSpanProcessor({ exporter: await spanExporterFor(o.config.tracing, o), ...batchOptionsFromEnv() }),
      resource,
      o.site,
    )
  o.logger.info({ metrics: o.config.metrics, tracing: o.config.tracing }, 'OpenTelemetry on')
  return new OtelTelemetry(o, families, meterProvider, tracing)
}

function buildResource (attrs: Readonly<Record<string, string>>): Resource {
  // As Go's resource.Merge(resource.Default(), ours): Go's Default() is the SDK's attributes and
  // the environment's (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME), ours go over them, and
  // OTEL_SERVICE_NAME over our service.name (knative/pkg resource.Default reads it first). JS's
  // defaultResource() has no environment in it, so the env detector is merged in here. The SDK
  // reads these variables, as Go's does (not config/: they are OpenTelemetry's, not Sluice's).
  const env = detectResources({ detectors: [envDetector] })
  const serviceName = getStringFromEnv('OTEL_SERVICE_NAME')
  const ours = serviceName !== undefined && serviceName !== '' ? { ...attrs, 'service.name': serviceName } : attrs
  return defaultResource().merge(env).merge(resourceFromAttributes(ours))
}

/**
 * knative/pkg endpointFor: an endpoint without a scheme (`collector:4317`, which Go's url.Parse reads
 * as scheme `collector` with an opaque part) gets `https://`; a full URL is used as it is.
 */
export function exporterUrl (endpoint: string): string {
  return /^[A-Za-z][A-Za-z0-9+.-]*:[^/]/.test(endpoint) && !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(endpoint)
    ? `https://${endpoint}`
    : endpoint
}

async function metricReaderFor (c: MetricsExportConfig, o: OtelTelemetryOptions, producer: MetricProducer): Promise<MetricReader> {
  if (c.protocol === 'prometheus') {
    const server = o.prometheus
    if (server === null) throw new Error('metrics protocol prometheus without a listener config')
    const { startPrometheusReader } = await import('./prometheus-reader.ts')
    return await startPrometheusReader(server, producer, (err) => { o.logger.error({ err, host: server.host, port: server.port, tls: server.tls !== null }, 'metrics server error') })
  }
  const exporter: PushMetricExporter = c.protocol === 'grpc'
    ? (await import('./grpc-exporters.ts')).grpcMetricExporter(endpointFor(c.endpoint, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'))
    : (await import('./proto-exporters.ts')).protoMetricExporter(endpointFor(c.endpoint, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'))
  // knative/pkg intervalFor: OTEL_METRIC_EXPORT_INTERVAL, when set, wins over the config's interval
  // (Go's reader reads it: 60 s unless a positive integer); else the config's when non-zero, else
  // 60 s. Go's reader reads OTEL_METRIC_EXPORT_TIMEOUT too (30 s); JS's reader reads neither, and
  // wants the timeout no longer than the interval.
  const intervalMs = getStringFromEnv('OTEL_METRIC_EXPORT_INTERVAL') !== undefined
    ? goEnvPositiveInt('OTEL_METRIC_EXPORT_INTERVAL') ?? 60_000
    : c.exportIntervalMs > 0 ? c.exportIntervalMs : 60_000
  return new PeriodicExportingMetricReader({
    exporter,
    metricProducers: [producer],
    exportIntervalMillis: intervalMs,
    exportTimeoutMillis: Math.min(goEnvPositiveInt('OTEL_METRIC_EXPORT_TIMEOUT') ?? 30_000, intervalMs),
  })
}

/**
 * An OTEL_* number as Go's SDK reads it (strconv.Atoi; milliseconds for durations); null when
 * unset, not an integer, or not positive (Go's defaults then). The SDKs read these variables
 * themselves, not Sluice's config/: they are OpenTelemetry's, and Knative's Go gets them that way.
 */
function goEnvPositiveInt (key: string): number | null {
  const raw = getStringFromEnv(key)
  if (raw === undefined || !/^[+-]?\d+$/.test(raw)) return null
  const n = Number(raw)
  return Number.isSafeInteger(n) && n > 0 ? n : null
}

/**
 * Go's NewBatchSpanProcessor reads OTEL_BSP_* (knative/pkg passes no batch options); JS's does
 * not, so they are read here, with Go's defaults and its clamp of the batch to the queue.
 */
function batchOptionsFromEnv (): { scheduledDelayMillis: number, exportTimeoutMillis: number, maxQueueSize: number, maxExportBatchSize: number } {
  const maxQueueSize = goEnvPositiveInt('OTEL_BSP_MAX_QUEUE_SIZE') ?? 2048
  const batch = goEnvPositiveInt('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ?? 512
  return {
    scheduledDelayMillis: goEnvPositiveInt('OTEL_BSP_SCHEDULE_DELAY') ?? 5_000,
    exportTimeoutMillis: goEnvPositiveInt('OTEL_BSP_EXPORT_TIMEOUT') ?? 30_000,
    maxQueueSize,
    maxExportBatchSize: batch > maxQueueSize ? Math.min(512, maxQueueSize) : batch,
  }
}

async function spanExporterFor (c: TracingExportConfig, o: OtelTelemetryOptions): Promise<SpanExporter> {
  if (c.protocol === 'stdout') return new StdoutSpanExporter(o.writeLine)
  if (c.protocol === 'grpc') return (await import('./grpc-exporters.ts')).grpcSpanExporter(endpointFor(c.endpoint, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'))
  return (await import('./proto-exporters.ts')).protoSpanExporter(endpointFor(c.endpoint, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'))
}

/**
 * knative/pkg endpointFor: with OTEL_EXPORTER_OTLP_ENDPOINT or the signal's own variable set, the
 * configured endpoint is not passed, and the exporter takes the environment's (both SDKs resolve
 * it the same way: the signal's variable as is, else the generic one + /v1/<signal> over HTTP).
 */
function endpointFor (endpoint: string, signalKey: string): string | undefined {
  if (getStringFromEnv('OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined || getStringFromEnv(signalKey) !== undefined) return undefined
  return exporterUrl(endpoint)
}

/**
 * knative/pkg tracing sampleFor: OTEL_TRACES_SAMPLER set leaves the sampler to the SDK's environment
 * (Go's reads it; JS's TracerProvider does not: samplerFromEnv); stdout samples all; the rate
 * (OTEL_TRACES_SAMPLER_ARG over the config's, for this test only, as Knative's code reads) >= 1
 * samples all; the config's rate <= 0 none (not parent-based); else parent-based with its ratio.
 * Throws, as Knative's provider fails at start, when OTEL_TRACES_SAMPLER_ARG is not a float.
 */
export function samplerFor (c: TracingExportConfig): Sampler {
  if (getStringFromEnv('OTEL_TRACES_SAMPLER') !== undefined) return samplerFromEnv()
  if (c.protocol === 'stdout') return new AlwaysOnSampler()
  let rate = c.samplingRate
  const arg = getStringFromEnv('OTEL_TRACES_SAMPLER_ARG')
  if (arg !== undefined) {
    const override = parseGoFloat(arg)
    if (override === null) throw new Error(`error creating tracer sampler: unable to parse sample rate override: strconv.ParseFloat: parsing ${JSON.stringify(arg)}: invalid syntax`)
    rate = override
  }
  if (rate >= 1) return new AlwaysOnSampler()
  if (c.samplingRate <= 0) return new AlwaysOffSampler()
  return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(c.samplingRate) })
}

/**
 * Go's samplerFromEnv (sdk/trace/sampler_env.go): the six names; a ratio from OTEL_TRACES_SAMPLER_ARG
 * (1 when absent or invalid); an unknown name keeps the SDK's default, parent-based always-on.
 */
function samplerFromEnv (): Sampler {
  const name = (getStringFromEnv('OTEL_TRACES_SAMPLER') ?? '').trim().toLowerCase()
  const arg = getStringFromEnv('OTEL_TRACES_SAMPLER_ARG')
  const parsed = arg === undefined ? null : parseGoFloat(arg.trim())
  const ratio = (): TraceIdRatioBasedSampler => new TraceIdRatioBasedSampler(parsed !== null && parsed >= 0 && parsed <= 1 ? parsed : 1)
  switch (name) {
    case 'always_on': return new AlwaysOnSampler()
    case 'always_off': return new AlwaysOffSampler()
    case 'traceidratio': return ratio()
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() })
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: ratio() })
    default: return new ParentBasedSampler({ root: new AlwaysOnSampler() })
  }
}

/** The request metrics of one site; null members are the other site's. */
interface Families {
  readonly serverDuration: HistogramFamily
  readonly serverRequestSize: HistogramFamily
  readonly serverResponseSize: HistogramFamily
  /** queue-proxy only. */
  readonly clientDuration: HistogramFamily | null
  readonly clientRequestSize: HistogramFamily | null
  readonly invocationDuration: HistogramFamily | null
  readonly queueDepth: GaugeFamily | null
  /** activator only. */
  readonly requestQueued: SumFamily | null
  readonly requestActive: SumFamily | null
  /** handler/metrics.go: Float64Gauge, each revision's concurrency over the last report period. */
  readonly requestConcurrency: GaugeFamily | null
  /** activator/metrics.go: the stat reporter's websocket (peer=autoscaler). */
  readonly connReachable: GaugeFamily | null
  readonly connErrors: SumFamily | null
  readonly scopes: readonly ScopeFamilies[]
}

/** The SDK's default explicit buckets (Go's too), for the body sizes. */
const SIZE_BOUNDS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]

/**
 * Knative's instruments. With `prometheus` the names carry the unit suffix Go's exporter adds
 * (UnderscoreEscapingWithSuffixes: `s` -> `_seconds`, `By` -> `_bytes`, `{request}` none); the JS
 * exporter turns dots into underscores and adds `_total` to monotonic sums itself.
 */
function createFamilies (site: TelemetrySite, prometheus: boolean): Families {
  const seconds = prometheus ? '_seconds' : ''
  const bytes = prometheus ? '_bytes' : ''
  const histogram = (name: string, suffix: string, description: string, unit: string, valueType: ValueType, bounds: readonly number[]): HistogramFamily =>
    new HistogramFamily({ name: name + suffix, description, unit, valueType }, bounds)
  const serverDuration = histogram('http.server.request.duration', seconds, 'Duration of HTTP server requests.', 's', ValueType.DOUBLE, LATENCY_BOUNDS)
  const serverRequestSize = histogram('http.server.request.body.size', bytes, 'Size of HTTP server request bodies.', 'By', ValueType.INT, SIZE_BOUNDS)
  const serverResponseSize = histogram('http.server.response.body.size', bytes, 'Size of HTTP server response bodies.', 'By', ValueType.INT, SIZE_BOUNDS)
  const otelhttp = { name: OTELHTTP_SCOPE, version: OTELHTTP_VERSION }
  if (site === 'activator') {
    const requestQueued = new SumFamily({ name: 'kn.revision.request.queued', description: 'Number of requests currently queued in the activator waiting for capacity', unit: '{request}', valueType: ValueType.INT }, false)
    const requestActive = new SumFamily({ name: 'kn.revision.request.active', description: 'Number of requests currently being proxied by the activator', unit: '{request}', valueType: ValueType.INT }, false)
    const requestConcurrency = new GaugeFamily({ name: 'kn.revision.request.concurrency', description: 'Concurrent requests that are routed to Activator', unit: '{request}', valueType: ValueType.DOUBLE })
    const connReachable = new GaugeFamily({ name: 'kn.activator.stats.conn.reachable', description: 'Whether a peer is reachable from the activator (1 = reachable, 0 = not reachable)', unit: '{reachable}', valueType: ValueType.INT })
    const connErrors = new SumFamily({ name: 'kn.activator.stats.conn.errors', description: 'Number of connection errors from the activator', unit: '{error}', valueType: ValueType.INT }, true)
    return {
      serverDuration,
      serverRequestSize,
      serverResponseSize,
      clientDuration: null,
      clientRequestSize: null,
      invocationDuration: null,
      queueDepth: null,
      requestQueued,
      requestActive,
      requestConcurrency,
      connReachable,
      connErrors,
      scopes: [
        { scope: otelhttp, families: [serverDuration, serverRequestSize, serverResponseSize] },
        // One meter name in Knative's three activator files, so one scope.
        { scope: { name: ACTIVATOR_SCOPE }, families: [requestQueued, requestActive, requestConcurrency, connReachable, connErrors] },
      ],
    }
  }
  const clientDuration = histogram('http.client.request.duration', seconds, 'Duration of HTTP client requests.', 's', ValueType.DOUBLE, LATENCY_BOUNDS)
  const clientRequestSize = histogram('http.client.request.body.size', bytes, 'Size of HTTP client request bodies.', 'By', ValueType.INT, SIZE_BOUNDS)
  const invocationDuration = histogram('kn.serving.invocation.duration', seconds, 'The duration of task execution', 's', ValueType.DOUBLE, LATENCY_BOUNDS)
  const queueDepth = new GaugeFamily({ name: 'kn.serving.queue.depth', description: 'Number of current requests in the queue', unit: '{request}', valueType: ValueType.INT })
  const families: AnyFamily[] = [invocationDuration, queueDepth]
  return {
    serverDuration,
    serverRequestSize,
    serverResponseSize,
    clientDuration,
    clientRequestSize,
    invocationDuration,
    queueDepth,
    requestQueued: null,
    requestActive: null,
    requestConcurrency: null,
    connReachable: null,
    connErrors: null,
    scopes: [
      { scope: otelhttp, families: [serverDuration, serverRequestSize, serverResponseSize, clientDuration, clientRequestSize] },
      { scope: { name: QUEUE_SCOPE }, families },
    ],
  }
}

/**
 * What the SDK's Tracer held for our two scopes: the sampler, the batch processor, the resource, the
 * id generator. One per process.
 *
 * A request's sampling is decided once, for its server span, with the configured sampler (as the
 * SDK's Tracer calls it: the extracted context, the trace id, the span name, the kind, no attributes,
 * no links). Its other spans are children in the same trace, and every sampler Knative configures
 * (samplerFor, samplerFromEnv: always_on/off, traceidratio, parentbased_*) decides a child as its
 * parent was decided: parent-based ones follow the local parent; always_on/off and traceidratio
 * give the same answer for the same trace id. So an unsampled request records nothing and makes no
 * span or context objects: it only draws the client span's id for the traceparent it sends on
 * (`00-<trace id>-<span id>-00`, the parent's tracestate), what the SDK's non-recording spans
 * propagate. RECORD (record, not sampled) is treated as unsampled: no sampler here returns it,
 * and the SDK's batch processor drops such spans anyway.
 */
class Tracing {
  readonly sampler: Sampler
  readonly processor: SpanProcessor
  readonly resource: Resource
  /** otelhttp's scope (server and client spans) and Knative's (the queue-proxy's or activator's spans). */
  readonly httpScope: InstrumentationScope
  readonly knScope: InstrumentationScope
  readonly ids: RandomIdGenerator

  constructor (sampler: Sampler, processor: SpanProcessor, resource: Resource, site: TelemetrySite) {
    this.sampler = sampler
    this.processor = processor
    this.resource = resource
    // As TracerProvider.getTracer(name, version) builds them.
    this.httpScope = { name: OTELHTTP_SCOPE, version: OTELHTTP_VERSION, schemaUrl: undefined }
    this.knScope = { name: site === 'activator' ? ACTIVATOR_SCOPE : QUEUE_SCOPE, version: undefined, schemaUrl: undefined }
    this.ids = new RandomIdGenerator()
  }

  /** A sampled span of the request's trace (a new span id), started now. */
  span (ex: OtelExchange, name: string, kind: SpanKind, parent: SpanContext | undefined, attributes: Attributes, scope: InstrumentationScope): SpanRecord {
    return new SpanRecord(name, kind, ex.traceId, this.ids.generateSpanId(), ex.traceState, parent, attributes, this.resource, scope)
  }
}

/** The sampler's arguments for a server span that are the same on every request. */
const NO_SAMPLER_ATTRIBUTES: Attributes = Object.freeze({})
const NO_LINKS: Link[] = []

/** The hooks: one per process. */
class OtelTelemetry implements TelemetryHooks {
  readonly site: TelemetrySite
  readonly families: Families | null
  readonly tracing: Tracing | null
  readonly propagator = new W3CTraceContextPropagator()
  readonly inFlight: (() => number) | null
  readonly upstreamHost: string
  readonly upstreamPort: number
  /** `host:port` of the sidecar's upstream (url.full, server.address). */
  readonly upstreamAuthority: string
  /** The activator's per-revision attribute sets, built once per revision. */
  readonly #revisionAttrs = new WeakMap<TelemetryRevision, RevisionAttributes>()
  readonly #meterProvider: MeterProvider | null

  constructor (o: OtelTelemetryOptions, families: Families | null, mp: MeterProvider | null, tracing: Tracing | null) {
    this.site = o.site
    this.families = families
    this.tracing = tracing
    this.inFlight = o.inFlight
    this.upstreamHost = o.upstreamHost
    this.upstreamPort = o.upstreamPort
    this.upstreamAuthority = `${o.upstreamHost.includes(':') ? `[${o.upstreamHost}]` : o.upstreamHost}:${o.upstreamPort}`
    this.#meterProvider = mp
  }

  begin (ex: TelemetryExchange, revision: TelemetryRevision | null): ExchangeTelemetry {
    return new OtelExchange(this, ex, revision === null ? null : this.revisionAttributes(revision))
  }

  revisionAttributes (revision: TelemetryRevision): RevisionAttributes {
    let attrs = this.#revisionAttrs.get(revision)
    if (attrs === undefined) {
      attrs = {
        labels: Object.freeze({
          'kn.service.name': revision.Service,
          'kn.configuration.name': revision.Configuration,
          'kn.revision.name': revision.Name,
          'k8s.namespace.name': revision.Namespace,
        }),
        requests: Object.freeze({ 'k8s.namespace.name': revision.Namespace, 'kn.revision.name': revision.Name }),
        key: `${revision.Namespace}/${revision.Name}`,
      }
      this.#revisionAttrs.set(revision, attrs)
    }
    return attrs
  }

  recordConcurrency (namespace: string, name: string, concurrency: number): void {
    const family = this.families?.requestConcurrency
    if (family === undefined || family === null) return
    // Once a period per tracked revision, not per request: the key is built here.
    const key = `${namespace}/${name}`
    // Knative's attributes from the revision's labels; Sluice's revisions carry no service or
    // configuration name, so those are empty, as in the request metrics' labeler attributes.
    ;(family.get(key) ?? family.add(key, {
      'kn.service.name': '',
      'kn.configuration.name': '',
      'kn.revision.name': name,
      'k8s.namespace.name': namespace,
    })).value = concurrency
  }

  onAutoscalerConnect (): void {
    const f = this.families
    if (f === null || f.connReachable === null) return
    ;(f.connReachable.get(PEER_AUTOSCALER_KEY) ?? f.connReachable.add(PEER_AUTOSCALER_KEY, PEER_AUTOSCALER)).value = 1
  }

  onAutoscalerDisconnect (): void {
    const f = this.families
    if (f === null || f.connReachable === null || f.connErrors === null) return
    ;(f.connReachable.get(PEER_AUTOSCALER_KEY) ?? f.connReachable.add(PEER_AUTOSCALER_KEY, PEER_AUTOSCALER)).value = 0
    ;(f.connErrors.get(PEER_AUTOSCALER_KEY) ?? f.connErrors.add(PEER_AUTOSCALER_KEY, PEER_AUTOSCALER)).value += 1
  }

  async shutdown (): Promise<void> {
    await Promise.allSettled([
      this.#meterProvider === null ? null : this.#meterProvider.shutdown(),
      this.tracing === null ? null : this.tracing.processor.shutdown(),
    ])
  }
}

interface RevisionAttributes {
  /** otelhttp's labeler attributes (metric_handler.go), also set on the server span (tracing_handler.go). */
  readonly labels: Attributes
  /** kn.revision.request.* attributes. */
  readonly requests: Attributes
  /** `namespace/name`: the series key of kn.revision.request.*, and a prefix of the request metrics' keys. */
  readonly key: string
}

const NO_ATTRIBUTES: Attributes = Object.freeze({})
/** activator/metrics.go PeerAutoscaler: the stat reporter's peer. */
const PEER_AUTOSCALER: Attributes = Object.freeze({ peer: 'autoscaler' })
const PEER_AUTOSCALER_KEY = 'autoscaler'

/** kn.revision.request.*: the revision's running count. */
function addTo (family: SumFamily, revision: RevisionAttributes, delta: number): void {
  (family.get(revision.key) ?? family.add(revision.key, revision.requests)).value += delta
}

/** Reads one header of the inbound request for the propagator. */
const HEADER_GETTER = {
  get (carrier: TelemetryExchange['req']['headers'], key: string): string | string[] | undefined { return carrier[key] },
  keys (carrier: TelemetryExchange['req']['headers']): string[] { return Object.keys(carrier) },
}


/** One exchange's spans; every field set here, null until used. */
class OtelExchange implements ExchangeTelemetry {
  readonly t: OtelTelemetry
  readonly revision: RevisionAttributes | null
  /** The request's trace ('' with tracing off); sampled or not, the traceparent sent on is in it. */
  readonly traceId: string
  /** The incoming tracestate (or the sampler's), sent on. */
  readonly traceState: TraceState | undefined
  /** Null unless the request is sampled (Tracing: an unsampled request records nothing). */
  readonly serverSpan: SpanRecord | null
  /** kn.queueproxy.proxy (sidecar, from the start) / activator_proxy (activator, from admission). */
  proxySpan: SpanRecord | null
  /** kn.queueproxy.wait (sidecar with a breaker) / throttler_try (activator): until admission. */
  waitSpan: SpanRecord | null
  clientSpan: SpanRecord | null

  constructor (t: OtelTelemetry, ex: TelemetryExchange, revision: RevisionAttributes | null) {
    this.t = t
    this.revision = revision
    this.proxySpan = null
    this.waitSpan = null
    this.clientSpan = null
    const f = t.families
    if (revision !== null && f !== null && f.requestQueued !== null) addTo(f.requestQueued, revision, 1)
    const tracing = t.tracing
    if (tracing === null) {
      this.traceId = ''
      this.traceState = undefined
      this.serverSpan = null
      return
    }
    // The propagator only when there is a traceparent: without one, extract() gives ROOT_CONTEXT.
    const parentContext = ex.req.headers.traceparent === undefined ? ROOT_CONTEXT : t.propagator.extract(ROOT_CONTEXT, ex.req.headers, HEADER_GETTER)
    const remote = trace.getSpanContext(parentContext)
    const parent = remote !== undefined && trace.isSpanContextValid(remote) ? remote : undefined
    const traceId = parent === undefined ? tracing.ids.generateTraceId() : parent.traceId
    const name = spanMethod(ex.options.method)
    // Knative's samplers read neither attributes nor links (the SDK's Tracer passes none either).
    const sampling = tracing.sampler.shouldSample(parentContext, traceId, name, SpanKind.SERVER, NO_SAMPLER_ATTRIBUTES, NO_LINKS)
    this.traceId = traceId
    this.traceState = sampling.traceState ?? parent?.traceState
    if (sampling.decision !== SamplingDecision.RECORD_AND_SAMPLED) {
      this.serverSpan = null
      return
    }
    const server = tracing.span(this, name, SpanKind.SERVER, parent, serverSpanAttributes(ex), tracing.httpScope)
    this.serverSpan = server
    // Knative's own spans get no attributes: they share one frozen empty map.
    if (t.site === 'queue-proxy') {
      const proxy = tracing.span(this, 'kn.queueproxy.proxy', SpanKind.INTERNAL, server, NO_ATTRIBUTES, tracing.knScope)
      this.proxySpan = proxy
      if (t.inFlight !== null) this.waitSpan = tracing.span(this, 'kn.queueproxy.wait', SpanKind.INTERNAL, proxy, NO_ATTRIBUTES, tracing.knScope)
    } else {
      this.waitSpan = tracing.span(this, 'throttler_try', SpanKind.INTERNAL, server, NO_ATTRIBUTES, tracing.knScope)
    }
  }

  onAdmitted (ex: TelemetryExchange): void {
    const t = this.t
    const f = t.families
    if (f !== null) {
      if (f.queueDepth !== null && t.inFlight !== null) (f.queueDepth.get('') ?? f.queueDepth.add('', NO_ATTRIBUTES)).value = t.inFlight()
      if (this.revision !== null && f.requestQueued !== null && f.requestActive !== null) {
        addTo(f.requestQueued, this.revision, -1)
        addTo(f.requestActive, this.revision, 1)
      }
    }
    const tracing = t.tracing
    if (tracing === null) return
    if (this.waitSpan !== null) this.waitSpan.end(tracing.processor)
    const server = this.serverSpan
    let clientSpanId: string
    let flags: string
    if (server === null) {
      // Unsampled: only the client span's id, for the traceparent.
      clientSpanId = tracing.ids.generateSpanId()
      flags = '00'
    } else {
      let parent = server
      if (t.site === 'activator') {
        const proxy = tracing.span(this, 'activator_proxy', SpanKind.INTERNAL, server, NO_ATTRIBUTES, tracing.knScope)
        this.proxySpan = proxy
        parent = proxy
      } else if (this.proxySpan !== null) {
        parent = this.proxySpan
      }
      const method = ex.options.method
      const client = tracing.span(
        this, t.site === 'activator' ? `${method} ${pathOf(ex.options.path)}` : `HTTP ${method}`, SpanKind.CLIENT, parent,
        clientSpanAttributes(ex, t.site === 'activator' ? destOf(ex.target) : t.upstreamAuthority), tracing.httpScope,
      )
      this.clientSpan = client
      clientSpanId = client.spanId
      flags = '01'
    }
    // W3CTraceContextPropagator.inject's format (version 00), and the tracestate when there is one.
    setTraceHeaders(ex.options.headers, `00-${this.traceId}-${clientSpanId}-${flags}`, this.traceState === undefined ? '' : this.traceState.serialize())
  }

  onEnd (ex: TelemetryExchange): void {
    const t = this.t
    const nowMs = ex.clock.nowMs()
    // A client that left before any answer: the status Go's recorder reports (knative-request-log.ts).
    const status = ex.statusCode !== 0 ? ex.statusCode : ex.admittedMs < 0 ? 500 : 200
    const requestBytes = contentLength(ex)
    const f = t.families
    if (f !== null) {
      // One key per request names its series in the three server histograms; the attribute
      // objects are built only for a new series.
      const req = ex.req
      const host = req.headers.host ?? req.headers[':authority']
      const key = `${status} ${ex.options.method} ${isEncrypted(req.socket) ? 's' : ''} ${req.httpVersionMajor}.${req.httpVersionMinor} ${this.revision === null ? '' : this.revision.key} ${typeof host === 'string' ? host : ''}`
      const duration = f.serverDuration.get(key) ?? f.serverDuration.add(key, this.serverMetricAttributes(ex, status))
      duration.record((nowMs - ex.startMs) / 1000)
      ;(f.serverRequestSize.get(key) ?? f.serverRequestSize.add(key, duration.attributes)).record(requestBytes)
      ;(f.serverResponseSize.get(key) ?? f.serverResponseSize.add(key, duration.attributes)).record(ex.responseBytes)
      if (ex.admittedMs >= 0) {
        const inv = f.invocationDuration
        if (inv !== null) {
          const statusKey = String(status)
          ;(inv.get(statusKey) ?? inv.add(statusKey, { 'http.response.status_code': status })).record((nowMs - ex.admittedMs) / 1000)
        }
        if (f.clientDuration !== null && f.clientRequestSize !== null) {
          // otelhttp's transport measures until the response head (RoundTrip's return).
          const clientMs = (ex.firstByteMs >= 0 ? ex.firstByteMs : nowMs) - ex.admittedMs
          const clientKey = ex.firstByteMs >= 0 && ex.statusCode > 0 ? `${ex.statusCode} ${ex.options.method} ${req.httpVersionMajor}.${req.httpVersionMinor}` : `! ${errorType(ex)} ${ex.options.method} ${req.httpVersionMajor}.${req.httpVersionMinor}`
          const client = f.clientDuration.get(clientKey) ?? f.clientDuration.add(clientKey, this.clientMetricAttributes(ex))
          client.record(clientMs / 1000)
          ;(f.clientRequestSize.get(clientKey) ?? f.clientRequestSize.add(clientKey, client.attributes)).record(requestBytes)
        }
        if (this.revision !== null && f.requestActive !== null) addTo(f.requestActive, this.revision, -1)
      } else if (this.revision !== null && f.requestQueued !== null) {
        addTo(f.requestQueued, this.revision, -1)
      }
    }
    const server = this.serverSpan
    const tracing = t.tracing
    if (server === null || tracing === null) return
    const processor = tracing.processor
    const wait = this.waitSpan
    if (wait !== null && ex.admittedMs < 0) {
      // Never admitted: Knative sets the throttler's error on its wait span.
      if (t.site === 'activator') wait.setError(ex.errorCode ?? 'context canceled')
      wait.end(processor)
    }
    const client = this.clientSpan
    if (client !== null) {
      if (ex.firstByteMs >= 0 && ex.error === null) {
        client.attributes['http.response.status_code'] = ex.statusCode
        if (ex.statusCode >= 400) client.setError(undefined)
      } else {
        client.attributes['error.type'] = errorType(ex)
        client.setError(ex.error === null ? 'context canceled' : ex.error.message)
      }
      client.end(processor)
    }
    if (this.proxySpan !== null) this.proxySpan.end(processor)
    const attrs = server.attributes
    if (requestBytes > 0) attrs['http.request.body.size'] = requestBytes
    if (ex.responseBytes > 0) attrs['http.response.body.size'] = ex.responseBytes
    attrs['http.response.status_code'] = status
    if (this.revision !== null) {
      const labels = this.revision.labels
      for (const key in labels) attrs[key] = labels[key]
    }
    if (status >= 500) server.setError(undefined)
    server.end(processor)
  }

  /** otelhttp's MetricAttributes: the labeler's first (activator), then method, scheme, host, port, protocol, status. */
  serverMetricAttributes (ex: TelemetryExchange, status: number): Attributes {
    const attrs: Attributes = this.revision === null ? {} : { ...this.revision.labels }
    const req = ex.req
    const https = isEncrypted(req.socket)
    const host = hostPort(req.headers.host ?? req.headers[':authority'])
    attrs['http.request.method'] = standardMethod(ex.options.method)
    attrs['url.scheme'] = https ? 'https' : 'http'
    attrs['server.address'] = host.host
    const port = requiredPort(https, host.port)
    if (port > 0) attrs['server.port'] = port
    attrs['network.protocol.name'] = 'http'
    attrs['network.protocol.version'] = protocolVersion(req)
    attrs['http.response.status_code'] = status
    return attrs
  }

  clientMetricAttributes (ex: TelemetryExchange): Attributes {
    const t = this.t
    const attrs: Attributes = { 'http.request.method': standardMethod(ex.options.method), 'server.address': t.upstreamHost }
    if (t.upstreamPort !== 80) attrs['server.port'] = t.upstreamPort
    attrs['network.protocol.name'] = 'http'
    attrs['network.protocol.version'] = protocolVersion(ex.req)
    if (ex.firstByteMs >= 0 && ex.statusCode > 0) attrs['http.response.status_code'] = ex.statusCode
    else attrs['error.type'] = errorType(ex)
    return attrs
  }
}

/** otelhttp's RequestTraceAttrs for the server span (the response's are added at the end). */
function serverSpanAttributes (ex: TelemetryExchange): Attributes {
  const req = ex.req
  const https = isEncrypted(req.socket)
  const host = hostPort(req.headers.host ?? req.headers[':authority'])
  const method = ex.options.method
  const attrs: Attributes = { 'server.address': host.host, 'http.request.method': standardMethod(method), 'url.scheme': https ? 'https' : 'http' }
  const port = requiredPort(https, host.port)
  if (port > 0) attrs['server.port'] = port
  if (!KNOWN_METHODS.has(method)) attrs['http.request.method_original'] = method
  const peer = req.socket.remoteAddress
  if (peer !== undefined && peer !== '') {
    attrs['network.peer.address'] = peer
    if (req.socket.remotePort !== undefined) attrs['network.peer.port'] = req.socket.remotePort
  }
  const ua = req.headers['user-agent']
  if (typeof ua === 'string' && ua !== '') attrs['user_agent.original'] = ua
  const xff = req.headers['x-forwarded-for']
  const first = typeof xff === 'string' ? xff.split(',', 1)[0] ?? '' : ''
  const client = first !== '' ? first : peer ?? ''
  if (client !== '') attrs['client.address'] = client
  const path = pathOf(req.url ?? '/')
  if (path !== '') attrs['url.path'] = path
  attrs['network.protocol.version'] = protocolVersion(req)
  return attrs
}

/** otelhttp's client RequestTraceAttrs: method, url.full, server.address, server.port (not the scheme's default), protocol version. */
function clientSpanAttributes (ex: TelemetryExchange, authority: string): Attributes {
  const hp = hostPort(authority)
  const attrs: Attributes = { 'http.request.method': standardMethod(ex.options.method), 'url.full': `http://${authority}${ex.options.path}`, 'server.address': hp.host }
  const port = requiredPort(false, hp.port)
  if (port > 0) attrs['server.port'] = port
  attrs['network.protocol.version'] = protocolVersion(ex.req)
  return attrs
}

/** The activator's chosen endpoint (`ip:port`, PodTracker.dest) without importing the activator. */
function destOf (target: unknown): string {
  const dest = typeof target === 'object' && target !== null ? (target as { dest?: unknown }).dest : undefined
  return typeof dest === 'string' ? dest : ''
}

/** Replaces the incoming trace headers in the upstream list (flat name/value pairs) with ours. */
function setTraceHeaders (headers: TelemetryExchange['options']['headers'], traceparent: string, tracestate: string): void {
  if (!Array.isArray(headers)) return
  const list = headers as string[]
  for (let i = list.length - 2; i >= 0; i -= 2) {
    const name = (list[i] ?? '').toLowerCase()
    if (name === 'traceparent' || name === 'tracestate') list.splice(i, 2)
  }
  list.push('traceparent', traceparent)
  if (tracestate !== '') list.push('tracestate', tracestate)
}

/** Go's r.Proto without "HTTP/": 1.1, 2.0. */
function protocolVersion (req: TelemetryExchange['req']): string {
  return `${req.httpVersionMajor}.${req.httpVersionMinor}`
}

function isEncrypted (socket: unknown): boolean {
  return (socket as { encrypted?: boolean }).encrypted === true
}

/** otelhttp: a span name is the method when it is a known one, else "HTTP". */
function spanMethod (method: string): string {
  const upper = method.toUpperCase()
  return KNOWN_METHODS.has(upper) ? upper : 'HTTP'
}

function standardMethod (method: string): string {
  return KNOWN_METHODS.has(method) ? method : KNOWN_METHODS.has(method.toUpperCase()) ? method.toUpperCase() : '_OTHER'
}

function pathOf (target: string): string {
  const q = target.indexOf('?')
  const path = q < 0 ? target : target.slice(0, q)
  return path === '' ? '/' : path
}

/** otelhttp's SplitHostPort of req.Host: port -1 when absent. */
function hostPort (value: string | string[] | undefined): { host: string, port: number } {
  const s = typeof value === 'string' ? value : ''
  const hp = splitHostPort(s)
  if (hp === null) return { host: s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s, port: -1 }
  const port = Number(hp.port)
  return { host: hp.host, port: Number.isInteger(port) && hp.port !== '' ? port : -1 }
}

/** otelhttp's requiredHTTPPort: the port unless it is the scheme's default; -1 for none. */
function requiredPort (https: boolean, port: number): number {
  return port > 0 && port !== (https ? 443 : 80) ? port : -1
}

function contentLength (ex: TelemetryExchange): number {
  const raw = ex.req.headers['content-length']
  const n = typeof raw === 'string' ? Number(raw) : 0
  return Number.isSafeInteger(n) && n > 0 ? n : 0
}

function errorType (ex: TelemetryExchange): string {
  const code = ex.error === null ? undefined : (ex.error as { code?: unknown }).code
  return typeof code === 'string' ? code : ex.error === null ? 'context canceled' : '_OTHER'
}

