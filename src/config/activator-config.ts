import { isIP } from 'node:net'
import { LOG_LEVELS } from './log-levels.ts'
import { UPGRADE_TIMEOUTS_OPTION, upgradeTimeoutsOf, type UpgradeTimeouts } from './upgrade-timeouts.ts'
import { homedir, hostname } from 'node:os'
import { ACTIVATOR_TLS_OPTIONS, loadActivatorTlsConfig, type ActivatorTlsConfig } from './activator-tls-config.ts'
import { ALL_ADDRESSES } from './listen-host.ts'
import { parseObservabilityConfig } from './observability-config.ts'
import { NO_OBSERVABILITY, type ObservabilityConfig } from './observability-settings.ts'
import { readConfigDir } from './config-dir-watcher.ts'
import { OBSERVABILITY_KEYS, parseObservabilityConfigMap } from './observability-configmap.ts'
import { loggingKeys, parseLoggingConfigMap } from './logging-configmap.ts'
import { DEFAULT_MESH_COMPATIBILITY_MODE, MESH_COMPATIBILITY_MODES, NETWORK_KEYS, parseNetworkConfigMap, type MeshCompatibilityMode } from './network-configmap.ts'
import { readTokenFile } from './token-file.ts'
import { checkPrometheusPortClash, PROMETHEUS_SERVER_OPTIONS, prometheusServerOf, type PrometheusServerConfig } from './prometheus-server-config.ts'
import { TELEMETRY_KEYS, telemetryFromConfigMap, telemetryFromJson, type TelemetryConfig } from './telemetry-config.ts'
import { IDLE_RECLAIM_OPTION, idleReclaimMsOf, MALLOC_TRIM_ADDON_OPTION, mallocTrimAddonOf } from './idle-reclaim.ts'
import { PROFILING_OPTIONS, profilingListenOf, parseRuntimeProfiling, RUNTIME_PROFILING_KEY, runtimeProfilingOf, type ProfilingListen } from './profiling-config.ts'

/** Knative's component name for the activator in config-logging (`loglevel.activator`). */
export const LOGGING_COMPONENT = 'activator'
import { boolOf, intOf, parseOptions, strOf, type ConfigResult, type OptionSpec } from './options.ts'
import type { UpstreamClient } from '../proxy/upstream.ts'
import type { HttpServerImpl } from '../server/h2c-sniffing-server.ts'

export type RevisionSourceKind = 'static' | 'kubernetes' | 'api'
export type ActivatorStatsProtocol = 'knative' | 'json'

/** Activator configuration, read once at start. Durations in ms. */
export interface ActivatorConfig {
  readonly servingPort: number
  /** Knative's second serving port (8013, where SKS sends h2c revisions' traffic); HTTP/1.1 and h2c, as --port. */
  readonly h2cPort: number
  readonly adminPort: number
  readonly metricsPort: number
  readonly host: string
  /** Address of the admin port (revisions API); loopback unless told otherwise. */
  readonly adminHost: string
  /** --admin-token-file ('' = none): the bearer token the revisions API requires, re-read while running. */
  readonly adminTokenFile: string
  /** The token that file held at start ('' without one). */
  readonly adminToken: string
  /** Revisions file (YAML or JSON); '' = none. */
  readonly revisionsFile: string
  /** Where revisions come from. The admin API is mounted whatever the source, writable only with `api`. */
  readonly source: RevisionSourceKind
  /** Activator replicas sharing each revision's endpoints (Knative: from the public Endpoints). */
  readonly activatorCount: number
  /** This replica's index in [0, activatorCount); -1 = not given (every endpoint shared by count). */
  readonly activatorIndex: number
  /** Serving port with SO_REUSEPORT, so several activator processes on one host share it. */
  readonly reusePort: boolean
  /** Requests that may wait per revision (Knative breakerQueueDepth: 10000). */
  readonly queueDepth: number
  /** Default total timeout of a request, buffering included, for revisions without timeoutSeconds. */
  readonly activationTimeoutMs: number
  /** Max time a request may wait for capacity; 0 = off (then only the activation timeout applies). */
  readonly queueTimeoutMs: number
  /** After SIGTERM: quiet period (no new request) before the listeners close. */
  readonly drainMs: number
  /** --upgrade-timeouts: the revision's timeouts end open websockets too (knative) or only bound their handshake. */
  readonly upgradeTimeouts: UpgradeTimeouts
  /** Autoscaler stat server URL (ws://…); '' = no autoscaler, stats are only exposed on /metrics. */
  readonly autoscalerUrl: string
  readonly statsProtocol: ActivatorStatsProtocol
  /** Where requests that match no routing header or host go; null = 404 (Knative). */
  readonly defaultRevision: { readonly namespace: string, readonly name: string } | null
  /** Kubernetes namespace to watch with --source kubernetes; '' = all namespaces. */
  readonly kubernetesNamespace: string
  /** API server URL without credentials (kubectl proxy, a test server); '' = in-cluster or kubeconfig. */
  readonly kubernetesServer: string
  /** Where the kubeconfig comes from (raw env values; the CLI resolves them with kubeConfigLocation). */
  readonly kubeEnv: { readonly KUBERNETES_SERVICE_HOST?: string, readonly KUBERNETES_SERVICE_PORT?: string, readonly KUBECONFIG?: string }
  readonly homeDir: string
  readonly requestLog: boolean
  readonly logLevel: string
  /** HTTP/1.1 client to the endpoints (pods' sidecars): Sluice's own (H1Upstream) or undici's Pool. */
  readonly upstreamClient: UpstreamClient
  /** HTTP/1.1 server on the serving port: Sluice's own (H1Server) or node:http. */
  readonly httpServer: HttpServerImpl
  /** Stat pod_name (Knative: the activator's POD_NAME). */
  readonly podName: string
  readonly podIp: string
  /** OBSERVABILITY_CONFIG (Knative's config-observability as JSON), or --observability-config-dir's keys: the request log. */
  readonly observability: ObservabilityConfig
  /** --observability-config-dir ('' = none): config-observability mounted as files, re-read while running. */
  readonly observabilityConfigDir: string
  /** What that directory held at start (the watcher's baseline); null without one. */
  readonly observabilityDirData: ReadonlyMap<string, string> | null
  /** Runtime profiling at start: OBSERVABILITY_CONFIG runtime.profiling, or the directory's runtime-profiling (switched while running). */
  readonly profiling: boolean
  /** The directory's runtime-profiling key at start (the profiling watcher's baseline); null without a directory. */
  readonly profilingDirData: ReadonlyMap<string, string> | null
  /** --profiling-host / PROFILING_PORT (loopback:8008 by default). */
  readonly profilingListen: ProfilingListen
  /** --idle-reclaim-seconds in ms: idle time before a memory-reducing GC after a burst (0 = off). */
  readonly idleReclaimMs: number
  /** --malloc-trim-addon: malloc_trim after the reclaimer's GC ('' = GC only). */
  readonly mallocTrimAddon: string
  /**
   * OpenTelemetry exporters (src/telemetry/), read at start only, as Knative's activator sets its
   * providers up once: the directory's metrics-* and tracing-* keys, or OBSERVABILITY_CONFIG's
   * requestMetrics and tracing.
   */
  readonly telemetry: TelemetryConfig
  /** With the `prometheus` metrics protocol: where the exposition listens (:9090, or METRICS_PROMETHEUS_*); else null. */
  readonly prometheusServer: PrometheusServerConfig | null
  /** SYSTEM_NAMESPACE (the telemetry resource's k8s.namespace.name). */
  readonly systemNamespace: string
  /** --logging-config-dir ('' = none): config-logging mounted as files; the log level, re-read while running. */
  readonly loggingConfigDir: string
  readonly loggingDirData: ReadonlyMap<string, string> | null
  /** The TLS port and system-internal-tls (activator-tls-config.ts). */
  readonly tls: ActivatorTlsConfig
  /** config-network's mesh-compatibility-mode (--mesh-compatibility-mode or --network-config-dir): how --source kubernetes reaches pods. */
  readonly meshCompatibilityMode: MeshCompatibilityMode
  /** Settings accepted the lenient way Knative accepts them, one line each; the CLI logs them at start. */
  readonly warnings: readonly string[]
}

const PORT = { kind: 'int', min: 0, max: 65535 } as const

/** Knative's activator flags and env (POD_NAME, POD_IP), plus Sluice's for running without Kubernetes. */
/** knative/pkg's Prometheus server port when `metrics-endpoint` names none. */
export const PROMETHEUS_DEFAULT_PORT = 9090

export const ACTIVATOR_OPTIONS: readonly OptionSpec[] = [
  { flag: 'port', env: '', ...PORT, default: '8012', help: 'port that receives traffic for all revisions (HTTP/1.1 and h2c)' },
  { flag: 'h2c-port', env: '', ...PORT, default: '8013', help: 'second serving port, Knative\'s h2c port (SKS keeps it in h2c revisions\' endpoints); HTTP/1.1 and h2c, as --port; 0 = any free port' },
  { flag: 'admin-port', env: '', ...PORT, default: '8022', help: 'admin port (GET/PUT/DELETE /revisions)' },
  { flag: 'metrics-port', env: '', ...PORT, default: '9090', help: 'metrics port (/metrics, per-revision stats)' },
  { flag: 'host', env: '', kind: 'string', default: '', help: 'address to listen on (all ports); empty = every address, IPv6 and IPv4 (as Go\'s ":8012")' },
  { flag: 'admin-host', env: '', kind: 'string', default: '127.0.0.1', help: 'address of the admin port (the revisions API, which can point a revision\'s traffic anywhere): loopback unless you also give --admin-token-file' },
  { flag: 'admin-token-file', env: '', kind: 'string', default: '', help: 'file with a bearer token the revisions API requires (Authorization: Bearer <token>); re-read every 10 s, so a rotated Secret applies without a restart' },
  { flag: 'revisions', env: '', kind: 'string', default: '', help: 'revisions file (YAML or JSON), re-read on change; with --source api, read once at start (revisions known before the ports open), then the API changes them' },
  { flag: 'source', env: '', kind: 'string', choices: ['static', 'kubernetes', 'api'], help: 'where revisions come from (default: static with --revisions, else api); only api lets the admin API change revisions (static and kubernetes: read-only)' },
  { flag: 'kubernetes-namespace', env: '', kind: 'string', default: '', help: 'namespace to watch with --source kubernetes (default: all)' },
  { flag: 'kubernetes-server', env: '', kind: 'string', default: '', help: 'API server URL without credentials for --source kubernetes (kubectl proxy); default in-cluster or kubeconfig' },
  { flag: '', env: 'KUBERNETES_SERVICE_HOST', kind: 'string', help: 'set in a pod: use the in-cluster service account' },
  { flag: '', env: 'KUBERNETES_SERVICE_PORT', kind: 'string', help: 'set in a pod: the API server\'s port, with KUBERNETES_SERVICE_HOST' },
  { flag: '', env: 'KUBECONFIG', kind: 'string', help: 'kubeconfig file; wins over the in-cluster service account, as in client-go (default ~/.kube/config when it exists)' },
  { flag: 'activator-count', env: '', kind: 'int', min: 1, default: '1', help: 'activator replicas sharing each revision (Knative subsetting: each replica gets its own slice of the pods)' },
  { flag: 'activator-index', env: '', kind: 'int', min: 0, help: 'this replica\'s index in [0, --activator-count); unset = each replica takes 1/N of every pod' },
  { flag: 'reuse-port', env: '', kind: 'bool', default: 'false', help: 'listen on --port with SO_REUSEPORT (several activator processes on one host share the port; Linux)' },
  { flag: 'queue-depth', env: '', kind: 'int', min: 0, default: '10000', help: 'requests that may wait per revision, then 503' },
  { flag: 'activation-timeout', env: '', kind: 'number', min: 0.001, max: 2_147_483, default: '300', help: 'default total request timeout (buffering included) for revisions without timeoutSeconds, seconds (504)' },
  { flag: 'queue-timeout', env: '', kind: 'number', min: 0, max: 2_147_483, default: '0', help: 'max time a request waits for capacity, seconds (503); 0 = off' },
  { flag: 'drain-seconds', env: '', kind: 'number', min: 0, default: '30', help: 'after SIGTERM: quiet period with no new request before shutdown' },
  UPGRADE_TIMEOUTS_OPTION,
  { flag: 'default-revision', env: '', kind: 'string', default: '', help: 'NAMESPACE/NAME that gets requests no routing header or host matches (single-app setups); empty = 404' },
  { flag: 'autoscaler', env: '', kind: 'string', default: '', help: 'autoscaler stat server URL (ws://host:8080); empty = no push' },
  { flag: 'stats-protocol', env: '', kind: 'string', choices: ['knative', 'json'], default: 'knative', help: 'stat push framing: knative (protobuf WireStatMessages) or json' },
  { flag: 'request-log', env: '', kind: 'bool', default: 'false', help: 'log one line per request' },
  { flag: 'log-level', env: '', kind: 'string', choices: LOG_LEVELS, default: 'info', help: 'log level' },
  { flag: 'upstream-client', env: '', kind: 'string', choices: ['sluice', 'undici'], default: 'sluice', help: 'HTTP/1.1 client to the endpoints: sluice (built-in, default) or undici (its Pool, the fallback)' },
  { flag: 'http-server', env: '', kind: 'string', choices: ['sluice', 'node'], default: 'sluice', help: 'HTTP/1.1 server on the serving port: sluice (built-in, default) or node (node:http, the fallback)' },
  { flag: '', env: 'POD_NAME', kind: 'string', help: 'this activator\'s name (stat pod_name; default the host name)' },
  { flag: '', env: 'OBSERVABILITY_CONFIG', kind: 'string', default: '', help: 'Knative config-observability as JSON: enableRequestLog + requestLogTemplate (a Go template) write one line per request to stdout' },
  { flag: 'logging-config-dir', env: '', kind: 'string', default: '', help: 'Knative\'s config-logging ConfigMap mounted as a directory: the log level from loglevel.activator (else zap-logger-config\'s level), over --log-level; re-read every 10 s' },
  { flag: 'observability-config-dir', env: '', kind: 'string', default: '', help: 'Knative\'s config-observability ConfigMap mounted as a directory (logging.enable-request-log, logging.request-log-template, ...): the request log, re-read every 10 s; instead of OBSERVABILITY_CONFIG' },
  ...PROMETHEUS_SERVER_OPTIONS,
  ...PROFILING_OPTIONS,
  IDLE_RECLAIM_OPTION,
  MALLOC_TRIM_ADDON_OPTION,
  { flag: 'network-config-dir', env: '', kind: 'string', default: '', help: 'Knative\'s config-network ConfigMap mounted as a directory, read at start as Knative\'s activator does: mesh-compatibility-mode (enabled|disabled|auto, default auto; used with --source kubernetes) and system-internal-tls' },
  { flag: 'mesh-compatibility-mode', env: '', kind: 'string', choices: MESH_COMPATIBILITY_MODES, help: 'with --source kubernetes: enabled = send to each revision\'s private ClusterIP service, disabled = to pod IPs, auto = pods unless they fail as behind a mesh (default: config-network\'s, else auto; this flag wins over it)' },
  { flag: '', env: 'SYSTEM_NAMESPACE', kind: 'string', default: '', help: 'the namespace the activator runs in (OpenTelemetry resource k8s.namespace.name, as Knative\'s system.Namespace())' },
  { flag: '', env: 'POD_IP', kind: 'string', default: '', help: 'this activator\'s IP: with --source kubernetes, its place among the activators of each revision (public endpoints)' },
  ...ACTIVATOR_TLS_OPTIONS,
]

function kubeEnvOf (serviceHost: unknown, servicePort: unknown, kubeconfig: unknown): ActivatorConfig['kubeEnv'] {
  const out: { KUBERNETES_SERVICE_HOST?: string, KUBERNETES_SERVICE_PORT?: string, KUBECONFIG?: string } = {}
  if (typeof serviceHost === 'string') out.KUBERNETES_SERVICE_HOST = serviceHost
  if (typeof servicePort === 'string') out.KUBERNETES_SERVICE_PORT = servicePort
  if (typeof kubeconfig === 'string') out.KUBECONFIG = kubeconfig
  return Object.freeze(out)
}

export function loadActivatorConfig (argv: readonly string[], env: NodeJS.ProcessEnv): ConfigResult<ActivatorConfig> {
  const parsed = parseOptions(ACTIVATOR_OPTIONS, argv, env)
  const v = parsed.values
  const problems = parsed.problems
  if (parsed.positionals.length > 0) problems.push(`config: unexpected argument ${JSON.stringify(parsed.positionals[0])}`)
  const servingPort = intOf(v, 'port', 8012)
  const h2cPort = intOf(v, 'h2c-port', 8013)
  const adminPort = intOf(v, 'admin-port', 8022)
  const metricsPort = intOf(v, 'metrics-port', 9090)
  const ports = [['--port', servingPort], ['--h2c-port', h2cPort], ['--admin-port', adminPort], ['--metrics-port', metricsPort]] as const
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const a = ports[i]; const b = ports[j]
      if (a !== undefined && b !== undefined && a[1] !== 0 && a[1] === b[1]) problems.push(`config: ${a[0]} and ${b[0]} are both ${a[1]}`)
    }
  }
  const revisionsFile = strOf(v, 'revisions')
  const sourceRaw = v.get('source')
  const source: RevisionSourceKind = sourceRaw === 'static' || sourceRaw === 'kubernetes' || sourceRaw === 'api'
    ? sourceRaw
    : revisionsFile !== '' ? 'static' : 'api'
  if (source === 'static' && revisionsFile === '') problems.push('config: --source static needs --revisions FILE')
  if (source !== 'kubernetes' && strOf(v, 'kubernetes-server') !== '') problems.push('config: --kubernetes-server is only used with --source kubernetes')
  // With api the file is a seed: read once before the ports open, then the API owns the revisions.
  if (source === 'kubernetes' && revisionsFile !== '') problems.push('config: --revisions is read with --source static or api, not with --source kubernetes')
  const autoscalerUrl = strOf(v, 'autoscaler')
  if (autoscalerUrl !== '' && !/^wss?:\/\/[^/]+/.test(autoscalerUrl)) {
    problems.push(`config: --autoscaler must be a ws:// or wss:// URL, got ${JSON.stringify(autoscalerUrl)}`)
  }
  const defaultRaw = strOf(v, 'default-revision')
  const defaultMatch = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(defaultRaw)
  if (defaultRaw !== '' && defaultMatch === null) problems.push(`config: --default-revision must be NAMESPACE/NAME, got ${JSON.stringify(defaultRaw)}`)
  const activatorCount = intOf(v, 'activator-count', 1)
  const activatorIndex = intOf(v, 'activator-index', -1)
  if (activatorIndex >= activatorCount) problems.push(`config: --activator-index must be < --activator-count (${activatorCount}), got ${activatorIndex}`)
  const podNameRaw = v.get('POD_NAME')
  const statsProtocol = strOf(v, 'stats-protocol', 'knative') === 'json' ? 'json' : 'knative'
  const observabilityConfigDir = strOf(v, 'observability-config-dir')
  const observabilityEnv = strOf(v, 'OBSERVABILITY_CONFIG')
  let observabilityDirData: ReadonlyMap<string, string> | null = null
  let observability: ObservabilityConfig
  let profiling = false
  let profilingDirData: ReadonlyMap<string, string> | null = null
  let telemetry: TelemetryConfig
  if (observabilityConfigDir === '') {
    observability = parseObservabilityConfig(observabilityEnv, problems)
    profiling = runtimeProfilingOf(observability.runtime, problems)
    telemetry = telemetryFromJson(observability.requestMetrics, observability.tracing, problems)
  } else {
    // Knative's activator: metrics and tracing keys that do not validate at start are fatal (GetObservabilityConfig).
    const telemetryDirData = configMapDirOf('observability-config-dir', observabilityConfigDir, TELEMETRY_KEYS, [])
    telemetry = telemetryFromConfigMap(telemetryDirData ?? new Map(), problems)
    // Knative's activator: an invalid runtime-profiling at start is fatal (GetObservabilityConfig).
    profilingDirData = configMapDirOf('observability-config-dir', observabilityConfigDir, [RUNTIME_PROFILING_KEY], [])
    if (profilingDirData !== null) profiling = parseRuntimeProfiling(profilingDirData, problems)
    if (observabilityEnv !== '') problems.push('config: set OBSERVABILITY_CONFIG or --observability-config-dir, not both')
    observabilityDirData = configMapDirOf('observability-config-dir', observabilityConfigDir, OBSERVABILITY_KEYS, problems)
    observability = observabilityDirData === null ? NO_OBSERVABILITY : parseObservabilityConfigMap(observabilityDirData, problems)
  }
  const prometheusServer = telemetry.metrics.protocol === 'prometheus'
    ? prometheusServerOf(v, telemetry.metrics.endpoint, PROMETHEUS_DEFAULT_PORT, problems)
    : null
  checkPrometheusPortClash(prometheusServer, ports, problems, 'Knative\'s default 9090 unless the metrics endpoint or METRICS_PROMETHEUS_PORT names one')
  const loggingConfigDir = strOf(v, 'logging-config-dir')
  let loggingDirData: ReadonlyMap<string, string> | null = null
  let logLevel = strOf(v, 'log-level', 'info')
  if (loggingConfigDir !== '') {
    loggingDirData = configMapDirOf('logging-config-dir', loggingConfigDir, loggingKeys(LOGGING_COMPONENT), problems)
    // As Knative's activator: the ConfigMap decides the level (info when it names none).
    if (loggingDirData !== null) logLevel = parseLoggingConfigMap(loggingDirData, LOGGING_COMPONENT, problems)
  }
  const adminHost = strOf(v, 'admin-host', '127.0.0.1')
  if (adminHost === '') problems.push('config: --admin-host must not be empty (default 127.0.0.1)')
  const adminTokenFile = strOf(v, 'admin-token-file')
  let adminToken = ''
  if (adminTokenFile !== '') {
    try {
      adminToken = readTokenFile(adminTokenFile)
    } catch (err) {
      problems.push(`config: --admin-token-file ${JSON.stringify(adminTokenFile)} cannot be used: ${err instanceof Error ? err.message : String(err)}`)
    }
  } else if (source === 'api' && adminHost !== '' && !isLoopbackHost(adminHost)) {
    problems.push(`config: --admin-host ${adminHost} would let anyone who reaches it change where revisions' traffic goes; give --admin-token-file too, or keep the default 127.0.0.1`)
  }
  const warnings: string[] = []
  const networkConfigDir = strOf(v, 'network-config-dir')
  const meshFlag = strOf(v, 'mesh-compatibility-mode')
  let meshCompatibilityMode: MeshCompatibilityMode = DEFAULT_MESH_COMPATIBILITY_MODE
  if (meshFlag !== '' && source !== 'kubernetes') problems.push(`config: --mesh-compatibility-mode is only used with --source kubernetes, got --source ${source}`)
  if (meshFlag === 'enabled' || meshFlag === 'disabled' || meshFlag === 'auto') meshCompatibilityMode = meshFlag
  else if (networkConfigDir !== '' && source === 'kubernetes') {
    // config-network also carries system-internal-tls for every source (activator-tls-config.ts), so
    // the directory is not tied to --source kubernetes; an unreadable one is reported there, once.
    try {
      meshCompatibilityMode = parseNetworkConfigMap(readConfigDir(networkConfigDir, NETWORK_KEYS), warnings)
    } catch { /* reported by loadActivatorTlsConfig */ }
  }
  const tls = loadActivatorTlsConfig(v, strOf(v, 'network-config-dir'), [['--port', servingPort], ['--h2c-port', h2cPort], ['--admin-port', adminPort], ['--metrics-port', metricsPort]], problems)
  const config: ActivatorConfig = Object.freeze({
    servingPort,
    h2cPort,
    adminPort,
    metricsPort,
    host: strOf(v, 'host', ALL_ADDRESSES),
    adminHost,
    adminTokenFile,
    adminToken,
    revisionsFile,
    source,
    activatorCount,
    activatorIndex,
    reusePort: boolOf(v, 'reuse-port'),
    queueDepth: intOf(v, 'queue-depth', 10_000),
    activationTimeoutMs: Math.round(intOf(v, 'activation-timeout', 300) * 1000),
    queueTimeoutMs: Math.round(intOf(v, 'queue-timeout', 0) * 1000),
    drainMs: Math.round(intOf(v, 'drain-seconds', 30) * 1000),
    upgradeTimeouts: upgradeTimeoutsOf(v),
    autoscalerUrl,
    statsProtocol,
    defaultRevision: defaultMatch === null ? null : Object.freeze({ namespace: defaultMatch[1] ?? '', name: defaultMatch[3] ?? '' }),
    kubernetesNamespace: strOf(v, 'kubernetes-namespace'),
    kubernetesServer: strOf(v, 'kubernetes-server'),
    kubeEnv: kubeEnvOf(v.get('KUBERNETES_SERVICE_HOST'), v.get('KUBERNETES_SERVICE_PORT'), v.get('KUBECONFIG')),
    homeDir: homedir(),
    requestLog: boolOf(v, 'request-log'),
    logLevel,
    upstreamClient: strOf(v, 'upstream-client', 'sluice') === 'undici' ? 'undici' : 'sluice',
    httpServer: strOf(v, 'http-server', 'sluice') === 'node' ? 'node' : 'sluice',
    podName: typeof podNameRaw === 'string' && podNameRaw !== '' ? podNameRaw : hostname(),
    podIp: strOf(v, 'POD_IP'),
    observability,
    observabilityConfigDir,
    observabilityDirData,
    profiling,
    profilingDirData,
    profilingListen: profilingListenOf(v),
    idleReclaimMs: idleReclaimMsOf(v),
    mallocTrimAddon: mallocTrimAddonOf(v, problems),
    telemetry,
    prometheusServer,
    systemNamespace: strOf(v, 'SYSTEM_NAMESPACE'),
    loggingConfigDir,
    loggingDirData,
    tls,
    meshCompatibilityMode,
    warnings: Object.freeze(warnings),
  })
  return { config: problems.length === 0 ? config : null, problems, help: parsed.help }
}

/** The keys of a mounted ConfigMap given by `--<flag>`, or null with one problem line when it cannot be read. */
function configMapDirOf (flag: string, dir: string, keys: readonly string[], problems: string[]): ReadonlyMap<string, string> | null {
  try {
    return readConfigDir(dir, keys)
  } catch (err) {
    problems.push(`config: --${flag} ${JSON.stringify(dir)} cannot be read: ${err instanceof Error ? err.message : String(err)}`)
    return null
  }
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
function isLoopbackHost (host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '[::1]') return true
  return isIP(host) === 4 && host.startsWith('127.')
}
