import { parseGoDurationNs, parseGoFloat } from '../go/go-parse.ts'
import type { JsonObject } from './observability-settings.ts'

// OpenTelemetry request metrics and traces, as Knative configures them (knative/pkg
// observability/metrics/config.go and observability/tracing/config.go).
//
// Two sources, two rules, as in Knative:
// - the sidecar: OBSERVABILITY_CONFIG's `requestMetrics` and `tracing` objects (queue-proxy
//   json.Unmarshals them and never calls Validate; only what makes NewMeterProvider /
//   NewTracerProvider fail stops it: an unknown protocol, a Prometheus endpoint that is not
//   host:port). `exportInterval` is a Go time.Duration in JSON: a number of nanoseconds.
// - the activator: the config-observability ConfigMap's keys, parsed by configmap.As (strings
//   trimmed, durations as time.ParseDuration, floats as strconv.ParseFloat) and validated
//   (Validate's words). Knative's activator builds its meter provider from `metrics-*` (its
//   BaseConfig), not `request-metrics-*`, which only the queue-proxy's OBSERVABILITY_CONFIG carries;
//   `request-metrics-*` is still validated, as NewFromMap does.

export type MetricsProtocol = 'none' | 'prometheus' | 'grpc' | 'http/protobuf'
export type TracingProtocol = 'none' | 'grpc' | 'http/protobuf' | 'stdout'

export interface MetricsExportConfig {
  readonly protocol: MetricsProtocol
  /** As configured ('' = the exporter's default; Prometheus: the default listen address). */
  readonly endpoint: string
  /** 0 = the SDK's default (60 s), as Go's WithInterval is only applied when non-zero. */
  readonly exportIntervalMs: number
}

export interface TracingExportConfig {
  readonly protocol: TracingProtocol
  readonly endpoint: string
  readonly samplingRate: number
}

export interface TelemetryConfig {
  readonly metrics: MetricsExportConfig
  readonly tracing: TracingExportConfig
}

export const NO_METRICS: MetricsExportConfig = Object.freeze({ protocol: 'none', endpoint: '', exportIntervalMs: 0 })
export const NO_TRACING: TracingExportConfig = Object.freeze({ protocol: 'none', endpoint: '', samplingRate: 0 })
export const NO_TELEMETRY: TelemetryConfig = Object.freeze({ metrics: NO_METRICS, tracing: NO_TRACING })

/** True when anything is exported: only then is OpenTelemetry loaded. */
export function isTelemetryEnabled (c: TelemetryConfig): boolean {
  return c.metrics.protocol !== 'none' || c.tracing.protocol !== 'none'
}

const METRICS_PROTOCOLS: readonly string[] = ['none', 'prometheus', 'grpc', 'http/protobuf']
const TRACING_PROTOCOLS: readonly string[] = ['none', 'grpc', 'http/protobuf', 'stdout']

// --- OBSERVABILITY_CONFIG (the sidecar) -------------------------------------------------------

/**
 * `requestMetrics` and `tracing` of OBSERVABILITY_CONFIG. Type errors are json.Unmarshal's (fatal in
 * queue-proxy: "failed to parse OBSERVABILITY_CONFIG"); an unknown protocol or a bad Prometheus
 * endpoint is where queue-proxy's provider setup dies. Each problem is one `config:` line.
 */
export function telemetryFromJson (requestMetrics: JsonObject | null, tracing: JsonObject | null, problems: string[]): TelemetryConfig {
  const before = problems.length
  const m = requestMetrics ?? {}
  const t = tracing ?? {}
  const metricsProtocol = jsonString(m, 'protocol', 'requestMetrics', problems) ?? 'none'
  const metricsEndpoint = jsonString(m, 'endpoint', 'requestMetrics', problems) ?? ''
  const intervalNs = jsonInt64(m, 'exportInterval', 'requestMetrics', problems) ?? 0
  const tracingProtocol = jsonString(t, 'protocol', 'tracing', problems) ?? 'none'
  const tracingEndpoint = jsonString(t, 'endpoint', 'tracing', problems) ?? ''
  const samplingRate = jsonNumber(t, 'samplingRate', 'tracing', problems) ?? 0
  if (problems.length > before) return NO_TELEMETRY
  // Go's json leaves a "" protocol as ""; Knative's providers treat only "none" as off.
  if (!METRICS_PROTOCOLS.includes(metricsProtocol)) {
    problems.push(`config: OBSERVABILITY_CONFIG.requestMetrics: Failed to setup meter provider: error creating reader: unsupported metric exporter: ${JSON.stringify(metricsProtocol)}`)
  } else if (metricsProtocol === 'prometheus' && metricsEndpoint !== '' && splitHostPort(metricsEndpoint) === null) {
    problems.push(`config: OBSERVABILITY_CONFIG.requestMetrics: ${prometheusEndpointError(metricsEndpoint)}`)
  }
  if (!TRACING_PROTOCOLS.includes(tracingProtocol)) {
    // Knative's tracing provider says "metric exporter" here too (tracing/provider.go exporterFor).
    problems.push(`config: OBSERVABILITY_CONFIG.tracing: Failed to setup trace provider: error creating tracer exporter: unsupported metric exporter: ${JSON.stringify(tracingProtocol)}`)
  }
  if (problems.length > before) return NO_TELEMETRY
  return Object.freeze({
    metrics: Object.freeze({ protocol: metricsProtocol as MetricsProtocol, endpoint: metricsEndpoint, exportIntervalMs: intervalNs > 0 ? intervalNs / 1e6 : 0 }),
    tracing: Object.freeze({ protocol: tracingProtocol as TracingProtocol, endpoint: tracingEndpoint, samplingRate }),
  })
}

function jsonField (o: JsonObject, name: string): unknown {
  // encoding/json: field names match case-insensitively, the last key wins.
  let found: unknown
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === name.toLowerCase()) found = v
  return found
}

function jsonString (o: JsonObject, name: string, where: string, problems: string[]): string | null {
  const v = jsonField(o, name)
  if (v === undefined || v === null) return null
  if (typeof v === 'string') return v
  problems.push(`config: OBSERVABILITY_CONFIG.${where}.${name} must be a string, got ${JSON.stringify(v)}`)
  return null
}

function jsonNumber (o: JsonObject, name: string, where: string, problems: string[]): number | null {
  const v = jsonField(o, name)
  if (v === undefined || v === null) return null
  if (typeof v === 'number') return v
  problems.push(`config: OBSERVABILITY_CONFIG.${where}.${name} must be a number, got ${JSON.stringify(v)}`)
  return null
}

function jsonInt64 (o: JsonObject, name: string, where: string, problems: string[]): number | null {
  const v = jsonNumber(o, name, where, problems)
  if (v === null) return null
  if (Number.isInteger(v)) return v
  problems.push(`config: OBSERVABILITY_CONFIG.${where}.${name} must be an integer (a Go time.Duration: nanoseconds), got ${String(v)}`)
  return null
}

// --- config-observability (the activator) -----------------------------------------------------

export const METRICS_PROTOCOL_KEY = 'metrics-protocol'
export const METRICS_ENDPOINT_KEY = 'metrics-endpoint'
export const METRICS_EXPORT_INTERVAL_KEY = 'metrics-export-interval'
export const TRACING_PROTOCOL_KEY = 'tracing-protocol'
export const TRACING_ENDPOINT_KEY = 'tracing-endpoint'
export const TRACING_SAMPLING_RATE_KEY = 'tracing-sampling-rate'

/** The keys NewFromMap reads for metrics and tracing (the request- prefixed ones only validated here). */
export const TELEMETRY_KEYS: readonly string[] = [
  TRACING_PROTOCOL_KEY, TRACING_ENDPOINT_KEY, TRACING_SAMPLING_RATE_KEY,
  METRICS_PROTOCOL_KEY, METRICS_ENDPOINT_KEY, METRICS_EXPORT_INTERVAL_KEY,
  `request-${METRICS_PROTOCOL_KEY}`, `request-${METRICS_ENDPOINT_KEY}`, `request-${METRICS_EXPORT_INTERVAL_KEY}`,
]

/**
 * NewFromMap's order: tracing, metrics, then request metrics; the first error ends the parse (one
 * line, Knative's words after the key group). Returns what the activator exports.
 */
export function telemetryFromConfigMap (data: ReadonlyMap<string, string>, problems: string[]): TelemetryConfig {
  const tracing = tracingFromMap(data, problems)
  if (tracing === null) return NO_TELEMETRY
  const metrics = metricsFromMap(data, '', problems)
  if (metrics === null) return NO_TELEMETRY
  if (metricsFromMap(data, 'request-', problems) === null) return NO_TELEMETRY
  return Object.freeze({ metrics, tracing })
}

function tracingFromMap (data: ReadonlyMap<string, string>, problems: string[]): TracingExportConfig | null {
  const protocol = data.get(TRACING_PROTOCOL_KEY)?.trim() ?? 'none'
  const endpoint = data.get(TRACING_ENDPOINT_KEY)?.trim() ?? ''
  const rawRate = data.get(TRACING_SAMPLING_RATE_KEY)
  let samplingRate = 0
  if (rawRate !== undefined) {
    const parsed = parseGoFloat(rawRate.trim())
    if (parsed === null) {
      problems.push(`config-observability: failed to parse "${TRACING_SAMPLING_RATE_KEY}": strconv.ParseFloat: parsing ${JSON.stringify(rawRate.trim())}: invalid syntax`)
      return null
    }
    samplingRate = parsed
  }
  const err = validateTracing(protocol, endpoint, samplingRate)
  if (err !== null) { problems.push(`config-observability: tracing-*: ${err}`); return null }
  return Object.freeze({ protocol: protocol as TracingProtocol, endpoint, samplingRate })
}

function metricsFromMap (data: ReadonlyMap<string, string>, prefix: string, problems: string[]): MetricsExportConfig | null {
  const protocol = data.get(prefix + METRICS_PROTOCOL_KEY)?.trim() ?? 'none'
  const endpoint = data.get(prefix + METRICS_ENDPOINT_KEY)?.trim() ?? ''
  const rawInterval = data.get(prefix + METRICS_EXPORT_INTERVAL_KEY)
  let intervalNs = 0n
  if (rawInterval !== undefined) {
    const parsed = parseGoDurationNs(rawInterval.trim())
    if (parsed === null) {
      problems.push(`config-observability: failed to parse "${prefix}${METRICS_EXPORT_INTERVAL_KEY}": time: invalid duration ${JSON.stringify(rawInterval.trim())}`)
      return null
    }
    intervalNs = parsed
  }
  const err = validateMetrics(protocol, endpoint, intervalNs)
  if (err !== null) { problems.push(`config-observability: ${prefix}metrics-*: ${err}`); return null }
  if (protocol === 'prometheus' && endpoint !== '' && splitHostPort(endpoint) === null) {
    // Not Validate's: where the activator's meter provider setup dies ("Failed to setup meter provider").
    problems.push(`config-observability: ${prefix}metrics-*: ${prometheusEndpointError(endpoint)}`)
    return null
  }
  return Object.freeze({ protocol: protocol as MetricsProtocol, endpoint, exportIntervalMs: intervalNs > 0n ? Number(intervalNs) / 1e6 : 0 })
}

/** knative/pkg metrics.Config.Validate; null when valid. */
export function validateMetrics (protocol: string, endpoint: string, intervalNs: bigint): string | null {
  switch (protocol) {
    case 'grpc': case 'http/protobuf':
      if (endpoint === '') return `endpoint should be set when protocol is ${JSON.stringify(protocol)}`
      break
    case 'none':
      if (endpoint !== '') return `endpoint should not be set when protocol is ${JSON.stringify(protocol)}`
      break
    case 'prometheus':
      break
    default:
      return `unsupported protocol ${JSON.stringify(protocol)}`
  }
  if (intervalNs < 0n) return `export interval "${goDurationString(intervalNs)}" should be greater than zero`
  return null
}

/** knative/pkg tracing.Config.Validate; null when valid. */
export function validateTracing (protocol: string, endpoint: string, samplingRate: number): string | null {
  switch (protocol) {
    case 'grpc': case 'http/protobuf':
      if (endpoint === '') return `endpoint should be set for protocol ${JSON.stringify(protocol)}`
      break
    case 'none': case 'stdout':
      if (endpoint !== '') return 'endpoint should not be set when protocol is \'none\''
      break
    default:
      return `unsupported protocol ${JSON.stringify(protocol)}`
  }
  if (samplingRate < 0) return `sampling rate ${samplingRate.toFixed(6)} should be greater or equal to zero`
  if (samplingRate > 1) return `sampling rate ${samplingRate.toFixed(6)} should be less than or equal to one`
  return null
}

function prometheusEndpointError (endpoint: string): string {
  return `Failed to setup meter provider: error creating reader: metrics-endpoint ${JSON.stringify(endpoint)} for prometheus exporter should be "host:port", "host%zone:port", "[host]:port" or "[host%zone]:port"`
}

/** Go's net.SplitHostPort: `host:port`, `[v6]:port`; the host may be empty. null when malformed. */
export function splitHostPort (hostport: string): { host: string, port: string } | null {
  const i = hostport.lastIndexOf(':')
  if (i < 0) return null
  let host = hostport.slice(0, i)
  const port = hostport.slice(i + 1)
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return null
    host = host.slice(1, -1)
    if (host.includes('[') || host.includes(']')) return null
  } else if (host.includes(':') || host.includes('[') || host.includes(']')) {
    return null
  }
  if (port.includes('[') || port.includes(']')) return null
  return { host, port }
}

/** Go's time.Duration.String (what `%q` prints for one). */
export function goDurationString (ns: bigint): string {
  const neg = ns < 0n
  let u = neg ? -ns : ns
  const sign = neg ? '-' : ''
  if (u < 1_000_000_000n) {
    if (u === 0n) return '0s'
    if (u < 1_000n) return `${sign}${String(u)}ns`
    if (u < 1_000_000n) return `${sign}${frac(u, 3)}µs`
    return `${sign}${frac(u, 6)}ms`
  }
  let out = `${frac(u % 60_000_000_000n, 9)}s`
  u /= 60_000_000_000n
  if (u > 0n) {
    out = `${String(u % 60n)}m${out}`
    u /= 60n
    if (u > 0n) out = `${String(u)}h${out}`
  }
  return sign + out
}

/** `v / 10^prec` printed without trailing zeros (Go's fmtFrac + fmtInt). */
function frac (v: bigint, prec: number): string {
  const scale = 10n ** BigInt(prec)
  const fraction = (v % scale).toString().padStart(prec, '0').replace(/0+$/, '')
  return fraction === '' ? String(v / scale) : `${String(v / scale)}.${fraction}`
}
