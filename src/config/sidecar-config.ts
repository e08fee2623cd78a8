import { parseObservabilitySettings, type ObservabilityConfig } from './observability-settings.ts'
import { telemetryFromJson, type TelemetryConfig } from './telemetry-config.ts'
import { isLogLevel, LOG_LEVELS } from './log-levels.ts'
import { UPGRADE_TIMEOUTS_OPTION, upgradeTimeoutsOf, type UpgradeTimeouts } from './upgrade-timeouts.ts'
import { ALL_ADDRESSES } from './listen-host.ts'
import type { HttpServerImpl } from '../server/h2c-sniffing-server.ts'
import type { UpstreamClient } from '../proxy/upstream.ts'
import { IDLE_RECLAIM_OPTION, idleReclaimMsOf, MALLOC_TRIM_ADDON_OPTION, mallocTrimAddonOf } from './idle-reclaim.ts'
import { PROFILING_OPTIONS, profilingListenOf, runtimeProfilingOf, type ProfilingListen } from './profiling-config.ts'
import { boolOf, intOf, parseOptions, strOf, type ConfigResult, type OptionSpec } from './options.ts'
import { parseTlsSettings, TLS_ENV, type TlsSettings } from './tls-settings.ts'
import { checkPrometheusPortClash, PROMETHEUS_SERVER_OPTIONS, prometheusServerOf, type PrometheusServerConfig } from './prometheus-server-config.ts'

export type UpstreamProtocol = 'http1' | 'h2c' | 'auto'

/** Sidecar (queue-proxy) configuration, read once at start. Durations in ms. */
export interface SidecarConfig {
  readonly containerConcurrency: number
  readonly servingPort: number
  /** TLS port (QUEUE_SERVING_TLS_PORT); listened on only when the cert dir holds tls.crt and tls.key. */
  readonly tlsPort: number
  readonly tlsCertDir: string
  readonly tls: TlsSettings
  readonly host: string
  readonly userPort: number
  readonly userHost: string
  readonly upstreamProtocol: UpstreamProtocol
  /** HTTP/1.1 client to the user container: Sluice's own (H1Upstream) or undici's Pool. */
  readonly upstreamClient: UpstreamClient
  /** HTTP/1.1 server on the serving port: Sluice's own (H1Server) or node:http. */
  readonly httpServer: HttpServerImpl
  readonly adminPort: number
  readonly metricsPort: number
  readonly queueDepth: number
  readonly revisionTimeoutMs: number
  readonly responseStartTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly drainMs: number
  /** --upgrade-timeouts: the revision's timeouts end open websockets too (knative) or only bound their handshake. */
  readonly upgradeTimeouts: UpgradeTimeouts
  readonly readinessProbe: string
  readonly multiContainerProbes: boolean
  readonly http2AutoDetection: boolean
  readonly namespace: string
  readonly configuration: string
  readonly revision: string
  readonly pod: string
  readonly podIp: string
  /** SERVING_SERVICE: the owning Service (request log `.Revision.Service`). */
  readonly service: string
  /** OBSERVABILITY_CONFIG (Knative): the request log, its template not compiled yet (Sidecar.listen does); requestMetrics, tracing, runtime. */
  readonly observability: ObservabilityConfig
  /** OBSERVABILITY_CONFIG runtime.profiling "enabled": the profiling server listens (src/profiling/). */
  readonly profiling: boolean
  /** --profiling-host / PROFILING_PORT: where it listens (loopback:8008 by default). */
  readonly profilingListen: ProfilingListen
  /** --idle-reclaim-seconds in ms: idle time before a memory-reducing GC after a burst (0 = off). */
  readonly idleReclaimMs: number
  /** --malloc-trim-addon: malloc_trim after the reclaimer's GC ('' = GC only). */
  readonly mallocTrimAddon: string
  /** OBSERVABILITY_CONFIG requestMetrics + tracing: the OpenTelemetry exporters (src/telemetry/). */
  readonly telemetry: TelemetryConfig
  /** With the `prometheus` metrics protocol: where the exposition listens (:9091, or METRICS_PROMETHEUS_*); else null. */
  readonly prometheusServer: PrometheusServerConfig | null
  readonly requestLog: boolean
  readonly serverTiming: boolean
  readonly stats: boolean
  readonly logLevel: string
}

const PORT = { kind: 'int', min: 0, max: 65535 } as const
/** Knative's UserQueueMetricsPort: where `requestMetrics.protocol: prometheus` listens without an endpoint. */
export const USER_QUEUE_METRICS_PORT = 9091
const SECONDS = { kind: 'int', min: 0 } as const

/** The contract: Knative's queue-proxy env names, plus flags for running several on one host. */
export const SIDECAR_OPTIONS: readonly OptionSpec[] = [
  { flag: 'container-concurrency', env: 'CONTAINER_CONCURRENCY', kind: 'int', min: 0, default: '0', help: 'max requests in flight to the user container; 0 = unlimited' },
  { flag: 'port', env: 'QUEUE_SERVING_PORT', ...PORT, default: '8012', help: 'port that receives traffic and probes' },
  { flag: 'tls-port', env: 'QUEUE_SERVING_TLS_PORT', ...PORT, default: '8112', help: 'TLS port (same traffic as --port, HTTP/1.1 and h2 by ALPN); only listened on when --tls-cert-dir holds tls.crt and tls.key' },
  { flag: 'tls-cert-dir', env: '', kind: 'string', default: '/var/lib/knative/certs', help: 'directory of the TLS port\'s tls.crt and tls.key (re-read every minute)' },
  { flag: '', env: TLS_ENV.minVersion, kind: 'string', default: '', help: 'TLS port: lowest TLS version, 1.2 or 1.3 (empty = 1.3, as Knative)' },
  { flag: '', env: TLS_ENV.maxVersion, kind: 'string', default: '', help: 'TLS port: highest TLS version, 1.2 or 1.3 (empty = 1.3)' },
  { flag: '', env: TLS_ENV.cipherSuites, kind: 'string', default: '', help: 'TLS port: TLS 1.2 cipher suites, comma-separated Go names (e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256); empty = Go\'s defaults' },
  { flag: '', env: TLS_ENV.curvePreferences, kind: 'string', default: '', help: 'TLS port: key exchange groups, comma-separated Go names (X25519, X25519MLKEM768, CurveP256 or P-256, CurveP384, CurveP521); empty = Node\'s defaults' },
  { flag: 'host', env: '', kind: 'string', default: '', help: 'address to listen on (all ports); empty = every address, IPv6 and IPv4 (as Go\'s ":8012")' },
  { flag: 'user-port', env: 'USER_PORT', ...PORT, min: 1, default: '8080', help: 'user container port; traffic goes to 127.0.0.1:USER_PORT' },
  { flag: 'user-host', env: '', kind: 'string', default: '127.0.0.1', help: 'user container address' },
  { flag: 'upstream-protocol', env: '', kind: 'string', choices: ['http1', 'h2c', 'auto'], default: 'auto', help: 'protocol to the user container: http1, h2c (all requests), or auto (h2c for HTTP/2 clients, e.g. gRPC)' },
  { flag: 'upstream-client', env: '', kind: 'string', choices: ['sluice', 'undici'], default: 'sluice', help: 'HTTP/1.1 client to the user container: sluice (built-in, default) or undici (its Pool, the fallback)' },
  { flag: 'http-server', env: '', kind: 'string', choices: ['sluice', 'node'], default: 'sluice', help: 'HTTP/1.1 server on the serving port: sluice (built-in, default) or node (node:http, the fallback)' },
  { flag: 'admin-port', env: '', ...PORT, default: '8022', help: 'admin port (/wait-for-drain)' },
  { flag: 'metrics-port', env: '', ...PORT, default: '9090', help: 'metrics port (/metrics: protobuf, Prometheus text or JSON)' },
  { flag: 'queue-depth', env: '', kind: 'int', min: 0, help: 'requests that may wait for a slot (default 10 x container concurrency)' },
  { flag: 'revision-timeout', env: 'REVISION_TIMEOUT_SECONDS', ...SECONDS, default: '300', help: 'total request timeout, seconds (504 request timeout)' },
  { flag: 'response-start-timeout', env: 'REVISION_RESPONSE_START_TIMEOUT_SECONDS', ...SECONDS, default: '0', help: 'time to first response byte, seconds; 0 = off' },
  { flag: 'idle-timeout', env: 'REVISION_IDLE_TIMEOUT_SECONDS', ...SECONDS, default: '0', help: 'max time between response writes, seconds; 0 = off' },
  { flag: 'drain-seconds', env: '', kind: 'number', min: 0, default: '30', help: 'after SIGTERM: quiet period with no new request before shutdown' },
  UPGRADE_TIMEOUTS_OPTION,
  { flag: 'readiness-probe', env: 'SERVING_READINESS_PROBE', kind: 'string', default: '', help: 'Kubernetes probe JSON for the user container (empty = TCP probe of USER_PORT, as Knative defaults)' },
  { flag: '', env: 'ENABLE_MULTI_CONTAINER_PROBES', kind: 'bool', default: 'false', help: 'SERVING_READINESS_PROBE is a JSON array' },
  { flag: '', env: 'ENABLE_HTTP2_AUTO_DETECTION', kind: 'bool', default: 'false', help: 'accepted for compatibility; HTTP/2 to the app is chosen per request (see --upstream-protocol)' },
  { flag: '', env: 'SERVING_NAMESPACE', kind: 'string', default: '', help: 'namespace (metrics label)' },
  { flag: '', env: 'SERVING_CONFIGURATION', kind: 'string', default: '', help: 'configuration (metrics label)' },
  { flag: '', env: 'SERVING_REVISION', kind: 'string', default: '', help: 'revision (metrics label)' },
  { flag: '', env: 'SERVING_POD', kind: 'string', default: '', help: 'pod name (stat pod_name)' },
  { flag: '', env: 'SERVING_POD_IP', kind: 'string', default: '', help: 'pod IP' },
  { flag: '', env: 'SERVING_SERVICE', kind: 'string', default: '', help: 'owning Service name (request log)' },
  { flag: '', env: 'OBSERVABILITY_CONFIG', kind: 'string', default: '', help: 'Knative config-observability as JSON: enableRequestLog + requestLogTemplate (a Go template) write one line per request to stdout' },
  ...PROMETHEUS_SERVER_OPTIONS,
  ...PROFILING_OPTIONS,
  IDLE_RECLAIM_OPTION,
  MALLOC_TRIM_ADDON_OPTION,
  { flag: 'request-log', env: '', kind: 'bool', default: 'false', help: 'log one line per request' },
  { flag: 'server-timing', env: '', kind: 'bool', default: 'false', help: 'add a Server-Timing header (queue wait, upstream first byte)' },
  { flag: 'stats', env: '', kind: 'bool', default: 'true', help: 'count traffic for /metrics (--no-stats turns it off, for benchmarks)' },
  { flag: 'log-level', env: 'SERVING_LOGGING_LEVEL', kind: 'string', default: 'info', help: `log level: ${LOG_LEVELS.join('|')}, or zap's dpanic|panic; empty = info (Knative sets it empty unless loglevel.queueproxy is configured)` },
]

/** zap levels Knative may pass (zapcore.Level.String()) that pino names differently. */
const ZAP_LEVELS: Readonly<Record<string, string>> = { dpanic: 'error', panic: 'fatal' }

/** SERVING_LOGGING_LEVEL / --log-level -> a pino level; '' (Knative's default) = info. */
function logLevelOf (raw: string, problems: string[]): string {
  const level = raw.trim().toLowerCase()
  if (level === '') return 'info'
  if (isLogLevel(level)) return level
  const mapped = ZAP_LEVELS[level]
  if (mapped !== undefined) return mapped
  problems.push(`config: --log-level / SERVING_LOGGING_LEVEL must be one of ${[...LOG_LEVELS, ...Object.keys(ZAP_LEVELS)].join('|')}, got ${JSON.stringify(raw)}`)
  return 'info'
}

export function loadSidecarConfig (argv: readonly string[], env: NodeJS.ProcessEnv): ConfigResult<SidecarConfig> {
  const parsed = parseOptions(SIDECAR_OPTIONS, argv, env)
  const v = parsed.values
  const problems = parsed.problems
  if (parsed.positionals.length > 0) problems.push(`config: unexpected argument ${JSON.stringify(parsed.positionals[0])}`)
  const cc = intOf(v, 'container-concurrency')
  const queueDepthRaw = v.get('queue-depth')
  const servingPort = intOf(v, 'port', 8012)
  const tlsPort = intOf(v, 'tls-port', 8112)
  const adminPort = intOf(v, 'admin-port', 8022)
  const metricsPort = intOf(v, 'metrics-port', 9090)
  const ports = [['QUEUE_SERVING_PORT', servingPort], ['QUEUE_SERVING_TLS_PORT', tlsPort], ['--admin-port', adminPort], ['--metrics-port', metricsPort]] as const
  const tls = parseTlsSettings({
    minVersion: strOf(v, TLS_ENV.minVersion),
    maxVersion: strOf(v, TLS_ENV.maxVersion),
    cipherSuites: strOf(v, TLS_ENV.cipherSuites),
    curvePreferences: strOf(v, TLS_ENV.curvePreferences),
  }, problems)
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const a = ports[i]; const b = ports[j]
      if (a !== undefined && b !== undefined && a[1] !== 0 && a[1] === b[1]) problems.push(`config: ${a[0]} and ${b[0]} are both ${a[1]}`)
    }
  }
  // Decoded, not compiled: Sidecar.listen compiles the request log's template when it is on (the Go
  // template engine loads only then; observability-settings.ts).
  const observability = parseObservabilitySettings(strOf(v, 'OBSERVABILITY_CONFIG'), problems)
  const telemetry = telemetryFromJson(observability.requestMetrics, observability.tracing, problems)
  // queue-proxy: `prometheus` without an endpoint listens on :9091 (its UserQueueMetricsPort).
  const prometheusServer = telemetry.metrics.protocol === 'prometheus'
    ? prometheusServerOf(v, telemetry.metrics.endpoint, USER_QUEUE_METRICS_PORT, problems)
    : null
  checkPrometheusPortClash(prometheusServer, ports, problems)
  const config: SidecarConfig = Object.freeze({
    containerConcurrency: cc,
    servingPort,
    tlsPort,
    tlsCertDir: strOf(v, 'tls-cert-dir', '/var/lib/knative/certs'),
    tls,
    host: strOf(v, 'host', ALL_ADDRESSES),
    userPort: intOf(v, 'user-port', 8080),
    userHost: strOf(v, 'user-host', '127.0.0.1'),
    upstreamProtocol: strOf(v, 'upstream-protocol', 'auto') as UpstreamProtocol,
    upstreamClient: strOf(v, 'upstream-client', 'sluice') as UpstreamClient,
    httpServer: strOf(v, 'http-server', 'sluice') === 'node' ? 'node' : 'sluice',
    adminPort,
    metricsPort,
    queueDepth: typeof queueDepthRaw === 'number' ? queueDepthRaw : 10 * cc,
    revisionTimeoutMs: intOf(v, 'revision-timeout', 300) * 1000,
    responseStartTimeoutMs: intOf(v, 'response-start-timeout') * 1000,
    idleTimeoutMs: intOf(v, 'idle-timeout') * 1000,
    drainMs: intOf(v, 'drain-seconds', 30) * 1000,
    upgradeTimeouts: upgradeTimeoutsOf(v),
    readinessProbe: strOf(v, 'readiness-probe'),
    multiContainerProbes: boolOf(v, 'ENABLE_MULTI_CONTAINER_PROBES'),
    http2AutoDetection: boolOf(v, 'ENABLE_HTTP2_AUTO_DETECTION'),
    namespace: strOf(v, 'SERVING_NAMESPACE'),
    configuration: strOf(v, 'SERVING_CONFIGURATION'),
    revision: strOf(v, 'SERVING_REVISION'),
    pod: strOf(v, 'SERVING_POD'),
    podIp: strOf(v, 'SERVING_POD_IP'),
    service: strOf(v, 'SERVING_SERVICE'),
    observability,
    profiling: runtimeProfilingOf(observability.runtime, problems),
    profilingListen: profilingListenOf(v),
    idleReclaimMs: idleReclaimMsOf(v),
    mallocTrimAddon: mallocTrimAddonOf(v, problems),
    telemetry,
    prometheusServer,
    requestLog: boolOf(v, 'request-log'),
    serverTiming: boolOf(v, 'server-timing'),
    stats: boolOf(v, 'stats', true),
    logLevel: logLevelOf(strOf(v, 'log-level', 'info'), problems),
  })
  return { config: problems.length === 0 ? config : null, problems, help: parsed.help }
}
