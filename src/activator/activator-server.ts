import type { UpgradeTimeouts } from '../config/upgrade-timeouts.ts'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { ServerHttp2Session } from 'node:http2'
import type { AddressInfo, Server as NetServer } from 'node:net'
import { join } from 'node:path'
import type { ProxyServer } from 'http-proxy-3'
import { LOGGING_COMPONENT, type ActivatorConfig } from '../config/activator-config.ts'
import type { UpstreamClient } from '../proxy/upstream.ts'
import { DeadlineSweeper } from '../proxy/deadline-sweeper.ts'
import { closeAllConnections, closeIdleConnections, createDualServer, MAX_REQUEST_HEAD_BYTES, type DualServer } from '../server/h2c-sniffing-server.ts'
import { H1Upstream } from '../proxy/h1-upstream.ts'
import { H2cUpstream } from '../proxy/h2c-upstream.ts'
import { ExchangeMetrics } from '../proxy/exchange-metrics.ts'
import type { UpgradeTunnel } from '../proxy/upgrade-tunnel.ts'
import { ActiveRequests } from '../server/active-requests.ts'
import { CERT_FILE, KEY_FILE } from '../server/cert-watcher.ts'
import { Drainer } from '../server/drainer.ts'
import { waitUntil, withTimeout } from '../server/drain-waits.ts'
import { realClock, type Clock } from '../shared/clock.ts'
import { CertificateLoadError } from '../shared/errors.ts'
import { realTimers, type Timers } from '../shared/timers.ts'
import type { ObservabilityConfig } from '../config/observability-settings.ts'
import { CONFIG_DIR_RELOAD_MS, ConfigDirWatcher } from '../config/config-dir-watcher.ts'
import { OBSERVABILITY_KEYS, parseObservabilityConfigMapUpdate } from '../config/observability-configmap.ts'
import { loggingKeys, parseLoggingConfigMap } from '../config/logging-configmap.ts'
import { parseRuntimeProfiling, RUNTIME_PROFILING_KEY } from '../config/profiling-config.ts'
import { ProfilingSwitch } from '../profiling/profiling-switch.ts'
import { IdleReclaimer, STARTUP_QUIET_MS, type IdleReclaimerOptions } from '../server/idle-reclaimer.ts'
import { setLogLevel, type Logger } from '../shared/logger.ts'
import { createMetricsServer } from '../stats/metrics-server.ts'
import { ProxyMetrics } from '../stats/proxy-metrics.ts'
import { ActivatorMetrics } from './activator-metrics.ts'
import { ActivatorProbes } from './activator-probes.ts'
import type { ActivatorTls } from './activator-tls.ts'
import { ConcurrencyReporter, type StatSink } from './concurrency-reporter.ts'
import { DEFAULT_PROBER_SCHEDULE, type ProberSchedule } from './endpoint-prober.ts'
import { ActivatorHandler } from './handler.ts'
import type { RandomInt } from './lb-policy.ts'
import type { EndpointPool } from './pod-tracker.ts'
import { HttpEndpointProbe, type EndpointProbe } from '../proxy/endpoint-probe.ts'
import { knativeRequestLogFor, REQUEST_LOG_UNAVAILABLE, type KnativeRequestLog } from '../proxy/knative-request-log.ts'
import { writeStdout, type LineWriter } from '../shared/stdout-line.ts'
import type { TelemetryHooks } from '../proxy/exchange-telemetry.ts'
import { loadTelemetry } from '../telemetry/load-telemetry.ts'
import { activatorResource } from '../telemetry/telemetry-resource.ts'
import { ENDPOINT_CONNECT_TIMEOUT_MS, type ProxyContext } from './revision-proxy.ts'
import { RevisionRegistry } from './revision-registry.ts'
import { WsProxyGate } from './ws-proxy-gate.ts'
import type { RevisionSource } from './revision-spec.ts'

/** Knative's hijackDrainDuration: how long a drain waits for open websockets before cutting them. */
export const TUNNEL_DRAIN_MS = 60_000
/** After the last request of a drain: how long HTTP/2 sessions may take to send their last frames before they are cut. */
export const H2_FLUSH_MS = 1_000
/** Knative: received SIGTERM -> kubelet probes fail with this text. */
export const SIGTERM_HEALTH_ERROR = 'received SIGTERM from kubelet'

export type AdminRoutes = (req: IncomingMessage, res: ServerResponse) => boolean

export interface ActivatorDeps {
  clock?: Clock
  /** Where OBSERVABILITY_CONFIG's request log lines go (default: stdout). */
  requestLogWriter?: LineWriter
  /** Where stat batches go (the autoscaler pusher); null = none. */
  statSink?: StatSink | null
  /** Extra health condition (Knative: the autoscaler websocket must be connected); null = healthy. */
  healthCheck?: (() => string | null) | null
  /** Revision sources started by `listen` and closed by `close`. */
  sources?: readonly RevisionSource[]
  /** Admin-port routes tried first (the revisions API); false = not handled. Given the registry. */
  adminRoutes?: ((registry: RevisionRegistry) => AdminRoutes) | null
  probe?: EndpointProbe
  proberSchedule?: ProberSchedule
  /** Endpoint probers' timers and the clock that goes with them; default real (probers never use `clock`). */
  proberTimers?: Timers
  proberClock?: Clock
  randomInt?: RandomInt
  /** Connection pool to one endpoint; default per --upstream-client (H1Upstream or undici's Pool). */
  createPool?: (dest: string) => EndpointPool
  /** h2c session to one endpoint, for requests that came in over HTTP/2 (default H2cUpstream); null = they use createPool's. */
  createH2Pool?: ((dest: string) => EndpointPool) | null
  /** How often the mounted ConfigMap directories are re-read (default CONFIG_DIR_RELOAD_MS). */
  configDirReloadMs?: number
  /** How often the TLS cert dir is re-read (default a minute, as Knative). */
  certReloadMs?: number
  /** Timers of the certificate reload. */
  timers?: Timers
  /** The idle reclaimer's own timers (default real), request threshold, collection and start-up quiet time. */
  idleReclaim?: Partial<Pick<IdleReclaimerOptions, 'timers' | 'minRequests' | 'reclaim' | 'startupQuietMs'>>
}

export interface ActivatorPorts {
  serving: number
  /** --h2c-port: the same traffic (Knative's 8013, where SKS sends h2c revisions' requests). */
  h2c: number
  admin: number
  metrics: number
  /** --tls-port; null: no tls.crt and tls.key in --tls-cert-dir, so no TLS port. */
  tls: number | null
  /** The profiling port while runtime profiling is enabled at start, else null (nothing listens). */
  profiling: number | null
}

const NOT_FOUND_BODY = Buffer.from('not found\n')

/**
 * A running activator: the serving port (all revisions), the admin port (revisions API), the
 * metrics port, the registry with its throttlers and probers, and the concurrency reporter.
 * `shutdown()` is the SIGTERM path; `close()` stops everything at once.
 */
export class Activator implements ProxyContext {
  readonly config: ActivatorConfig
  readonly logger: Logger
  readonly registry: RevisionRegistry
  readonly reporter: ConcurrencyReporter
  readonly proxyMetrics: ProxyMetrics
  readonly metrics: ActivatorMetrics
  readonly drainer: Drainer
  readonly handler: ActivatorHandler
  // ProxyContext, shared by every revision
  readonly sweeper: DeadlineSweeper
  readonly clock: Clock
  readonly observer: ExchangeMetrics
  readonly active = new ActiveRequests()
  readonly tunnels = new Set<UpgradeTunnel>()
  /** http-proxy-3, loaded on the first Upgrade request (ws-proxy-gate.ts). */
  readonly #upgrades: WsProxyGate
  readonly upgradeTimeouts: UpgradeTimeouts
  readonly requestLog: Logger | null
  /** The profiling server (src/profiling/): on while config-observability enables runtime profiling. */
  readonly profiling: ProfilingSwitch
  /** Memory back after a burst (--idle-reclaim-seconds); null when off. */
  readonly reclaimer: IdleReclaimer | null
  /** Replaced when config-observability changes (setObservability); read per request. */
  knativeRequestLog: KnativeRequestLog | null
  /** OpenTelemetry's hooks once listen() loaded them (config-observability's metrics-*, tracing-*); null when off. */
  telemetry: TelemetryHooks | null = null
  readonly #servers: { serving: NetServer; admin: Server; metrics: Server }
  readonly #dual: DualServer
  /** --h2c-port: a second listener with the same servers' setup and handler. */
  readonly #h2cDual: DualServer
  /** HTTP/2 sessions of both ports: GOAWAY when the listeners close, destroyed at close(). */
  readonly #h2Sessions = new Set<ServerHttp2Session>()
  readonly #sources: readonly RevisionSource[]
  readonly #probe: EndpointProbe
  readonly #ownedProbe: HttpEndpointProbe | null
  readonly #healthCheck: (() => string | null) | null
  readonly #requestLogWriter: LineWriter
  readonly #configDirReloadMs: number
  readonly #configWatchers: Array<ConfigDirWatcher<unknown>> = []
  readonly #deps: ActivatorDeps
  /**
   * The TLS port and internal TLS (activator-tls.ts), set by listen() before the sources start,
   * so every revision's pools and probes are created knowing whether to dial TLS.
   */
  #tls: ActivatorTls | null = null
  #isTerminating = false
  #shutdown: Promise<void> | null = null

  constructor (config: ActivatorConfig, logger: Logger, deps: ActivatorDeps = {}) {
    const clock = deps.clock ?? realClock
    this.config = config
    this.logger = logger
    this.clock = clock
    this.upgradeTimeouts = config.upgradeTimeouts
    this.#sources = deps.sources ?? []
    this.#deps = deps
    this.#healthCheck = deps.healthCheck ?? null
    this.requestLog = config.requestLog ? logger.child({ component: 'request' }) : null
    this.#requestLogWriter = deps.requestLogWriter ?? writeStdout
    this.#configDirReloadMs = deps.configDirReloadMs ?? CONFIG_DIR_RELOAD_MS
    this.knativeRequestLog = knativeRequestLogFor(config.observability, this.#requestLogWriter, 'activator')
    // A template that does not parse costs only the request log (Knative: its ConfigMap parse fails, the log stays off).
    if (config.observability.requestLogTemplateError !== null) logger.error({ err: config.observability.requestLogTemplateError }, REQUEST_LOG_UNAVAILABLE)
    this.profiling = new ProfilingSwitch({ ...config.profilingListen, mode: 'activator', logger: logger.child({ component: 'profiling' }), timers: deps.timers, clock })
    this.sweeper = new DeadlineSweeper(() => clock.nowMs())
    this.proxyMetrics = new ProxyMetrics({
      gauges: () => {
        let queueDepth = 0
        for (const r of this.registry.revisions()) queueDepth += r.throttler.queued
        return { inFlight: this.active.count + this.tunnels.size, queueDepth }
      },
    })
    this.observer = new ExchangeMetrics(this.proxyMetrics)
    this.reclaimer = config.idleReclaimMs <= 0
      ? null
      : new IdleReclaimer({
        activity: { finished: () => this.proxyMetrics.latency.count, inFlight: () => this.active.count + this.tunnels.size },
        idleMs: config.idleReclaimMs,
        mallocTrimAddon: config.mallocTrimAddon,
        // One start-up collection as the sidecar's, once listening (the sources have synced: their
        // kubeconfig and initial lists are garbage by then) and quiet 0.5-1 s (issue 12).
        startupQuietMs: STARTUP_QUIET_MS,
        clock,
        logger: logger.child({ component: 'reclaim' }),
        ...deps.idleReclaim,
      })
    if (deps.probe !== undefined) {
      this.#probe = deps.probe
      this.#ownedProbe = null
    } else {
      this.#ownedProbe = new HttpEndpointProbe()
      this.#probe = this.#ownedProbe
    }
    this.reporter = new ConcurrencyReporter({
      podName: config.podName,
      sink: deps.statSink ?? null,
      clock,
      onReport: (nowMs) => { this.metrics.refresh(nowMs) },
      logger: logger.child({ component: 'concurrency-reporter' }),
    })
    const upstreamClient = config.upstreamClient
    const createPool = deps.createPool ?? ((dest: string): EndpointPool => defaultPool(dest, upstreamClient))
    const createH2Pool = deps.createH2Pool === undefined ? defaultH2Pool : deps.createH2Pool
    const proberSchedule = deps.proberSchedule ?? DEFAULT_PROBER_SCHEDULE
    const proberTimers = deps.proberTimers ?? realTimers
    const proberClock = deps.proberClock ?? realClock
    const randomInt = deps.randomInt
    const activators = Object.freeze({ index: config.activatorIndex, count: config.activatorCount })
    const probeInjected = deps.probe !== undefined
    this.registry = new RevisionRegistry((spec) => {
      // Internal TLS: pools and probes dial the pods' TLS port, verified for this namespace;
      // HTTP/2 requests go as h2 over TLS there (never h2c, which would skip TLS).
      const internal = this.#tls === null ? null : this.#tls.internal
      const namespace = spec.namespace
      const base = {
        ctx: this,
        reporter: this.reporter,
        probe: internal === null || probeInjected ? this.#probe : internal.probeFor(namespace),
        proberSchedule,
        proberTimers,
        proberClock,
        createPool: internal === null ? createPool : (dest: string): EndpointPool => internal.createPool(dest, namespace),
        createH2Pool: internal === null || createH2Pool === null ? createH2Pool : (dest: string): EndpointPool => internal.createH2Pool(dest, namespace),
        serviceDial: internal === null ? null : {
          createPool: (dest: string): EndpointPool => internal.createPool(dest, namespace, internal.servicePort),
          createH2Pool: createH2Pool === null ? null : (dest: string): EndpointPool => internal.createH2Pool(dest, namespace, internal.servicePort),
          probe: probeInjected ? this.#probe : internal.probeFor(namespace, internal.servicePort),
        },
        queueDepth: config.queueDepth,
        activators,
        defaultTimeoutMs: config.activationTimeoutMs,
        queueTimeoutMs: config.queueTimeoutMs,
        logger: logger.child({ component: 'revision', revision: `${spec.namespace}/${spec.name}` }),
      }
      return randomInt === undefined ? base : { ...base, randomInt }
    }, activators, logger.child({ component: 'registry' }))
    this.metrics = new ActivatorMetrics(this.reporter, this.registry, this.proxyMetrics)
    this.drainer = new Drainer({
      quietMs: config.drainMs,
      maxMs: config.drainMs * 2,
      logger: logger.child({ component: 'drainer' }),
      now: () => clock.nowMs(),
    })
    this.handler = new ActivatorHandler(this.registry, new ActivatorProbes(this), this.drainer, config.defaultRevision)

    this.#upgrades = new WsProxyGate(this.handler.handleUpgrade, (proxy) => {
      proxy.on('proxyReqWs', (proxyReq, req) => {
        // The websocket handshake gets the same rewrites as plain requests (revision-proxy.ts).
        proxyReq.removeHeader('knative-serving-revision')
        proxyReq.removeHeader('knative-serving-namespace')
        const original = req.headers['k-original-host']
        const host = typeof original === 'string' && original !== '' ? original : req.headers.host
        if (host !== undefined && host !== '') proxyReq.setHeader('k-original-host', host)
        proxyReq.setHeader('k-proxy-request', 'activator')
      })
      proxy.on('error', (err: unknown, _req, socketOrRes) => {
        logger.warn({ err }, 'upgrade proxy error')
        socketOrRes.destroy()
      })
    }, logger.child({ component: 'upgrade' }))

    this.#dual = this.#createServingServer(config, logger)
    this.#h2cDual = this.#createServingServer(config, logger)
    const makeAdminRoutes = deps.adminRoutes ?? null
    const adminRoutes = makeAdminRoutes !== null ? makeAdminRoutes(this.registry) : null
    const admin = process.getBuiltinModule('node:http').createServer((req, res) => {
      if (adminRoutes !== null && adminRoutes(req, res)) return
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': NOT_FOUND_BODY.length })
      res.end(NOT_FOUND_BODY)
    })
    this.#servers = { serving: this.#dual.net, admin, metrics: createMetricsServer(this.metrics, logger.child({ component: 'metrics' })) }
  }

  /** ProxyContext: the websocket proxy, loaded by the first Upgrade request before any tunnel reaches it. */
  get wsProxy (): ProxyServer { return this.#upgrades.proxy }

  /**
   * A serving listener (--port, --h2c-port): HTTP/1.1 (Sluice's H1Server, or node:http with
   * --http-server node; websocket upgrades go to node:http either way) and h2c with prior knowledge
   * on the same port, as Knative's activator serves both on 8012 and 8013 (network.NewServer's h2c
   * handler). HTTP/2 requests reach the same handler through node's compat API: same routing,
   * buffering, throttling, timeouts and stats; a stream the client resets ends its exchange as a
   * closed connection does.
   */
  #createServingServer (config: ActivatorConfig, logger: Logger): DualServer {
    // node:http's and node:http2's servers are made on first need (h2c-sniffing-server.ts); the
    // listeners go on them then.
    return createDualServer({
      impl: config.httpServer,
      http2: true,
      keepAliveTimeoutMs: 65_000,
      headersTimeoutMs: 60_000,
      maxHeadBytes: MAX_REQUEST_HEAD_BYTES,
      logger: logger.child({ component: 'http' }),
      onHttpServer: (http) => {
        http.on('upgrade', this.#upgrades.handle)
      },
      onH2Server: (h2) => {
        h2.on('session', (session: ServerHttp2Session) => {
          this.#h2Sessions.add(session)
          session.once('close', () => { this.#h2Sessions.delete(session) })
        })
      },
    }, this.handler.handle)
  }

  /** Drain: idle HTTP/1.1 connections close, HTTP/2 sessions get GOAWAY (their streams in flight finish). */
  #closeIdleServing (): void {
    closeIdleConnections(this.#dual)
    closeIdleConnections(this.#h2cDual)
    for (const session of this.#h2Sessions) session.close()
  }

  #h2SessionsClosed (): Promise<void> {
    const open: Array<Promise<unknown>> = []
    for (const session of this.#h2Sessions) if (!session.destroyed) open.push(once(session, 'close'))
    return Promise.all(open).then(noop)
  }

  #closeAllServing (): void {
    closeAllConnections(this.#dual)
    closeAllConnections(this.#h2cDual)
    for (const session of this.#h2Sessions) session.destroy()
  }

  /** Kubelet health (ActivatorHealth): failing once SIGTERM arrived, or when the extra check says so. */
  healthError (): string | null {
    if (this.#isTerminating || this.drainer.isDraining) return SIGTERM_HEALTH_ERROR
    return this.#healthCheck !== null ? this.#healthCheck() : null
  }

  /** Starts the sources (revisions known before the first request), then listens on all ports. */
  #watchConfigDir<T> (watcher: ConfigDirWatcher<T>): void {
    this.#configWatchers.push(watcher)
    watcher.start()
  }

  /** New config-observability settings (the request log); requests from now on use them. */
  setObservability (o11y: ObservabilityConfig): void {
    this.knativeRequestLog = knativeRequestLogFor(o11y, this.#requestLogWriter, 'activator')
  }

  /**
   * Loads the cert dir when it holds a certificate and key (node:tls and the TLS modules only
   * then). Internal TLS without them is a start-up error, as in Knative (its activator exits when
   * the routing-serving-certs Secret is missing).
   */
  async #startTls (): Promise<void> {
    const c = this.config.tls
    const certPath = join(c.certDir, CERT_FILE)
    const keyPath = join(c.certDir, KEY_FILE)
    if (!(await isFile(certPath)) || !(await isFile(keyPath))) {
      if (c.internalTls) throw new CertificateLoadError(`internal TLS (system-internal-tls) needs the activator's certificate: ${certPath} and ${keyPath} (the routing-serving-certs Secret) are missing`)
      this.logger.info({ certPath, keyPath }, 'no TLS certificate and key: TLS port off')
      return
    }
    const { ActivatorTls } = await import('./activator-tls.ts')
    const tls = new ActivatorTls({
      config: c,
      servers: this.#dual,
      upstreamClient: this.config.upstreamClient,
      connectTimeoutMs: ENDPOINT_CONNECT_TIMEOUT_MS,
      certReloadMs: this.#deps.certReloadMs,
      timers: this.#deps.timers,
      logger: this.logger.child({ component: 'tls' }),
    })
    this.#tls = tls
    await tls.start()
  }

  /** Re-reads the TLS cert dir now, as the minute tick does (tests); false without TLS or when nothing changed. */
  reloadTls (): Promise<boolean> {
    return this.#tls === null ? Promise.resolve(false) : this.#tls.reload()
  }

  async listen (): Promise<ActivatorPorts> {
    const c = this.config
    await this.#startTls()
    for (const source of this.#sources) await source.start(this.registry)
    // OpenTelemetry when the config exports something (else nothing is loaded); with `prometheus`
    // its listener (:9090 as Knative's, unless metrics-endpoint names one) is up before traffic.
    this.telemetry = await loadTelemetry({
      site: 'activator',
      config: c.telemetry,
      resource: activatorResource(c.systemNamespace, c.podName),
      prometheus: c.prometheusServer,
      inFlight: null,
      upstreamHost: '',
      upstreamPort: 0,
      writeLine: writeStdout,
      logger: this.logger.child({ component: 'telemetry' }),
    })
    // kn.revision.request.concurrency from the reporter's periods (a no-op without metrics).
    this.reporter.useRecorder(this.telemetry)
    const listenOne = (server: Server | NetServer, port: number, reusePort = false, host = c.host): Promise<number> => new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port, host, reusePort }, () => {
        server.off('error', reject)
        const address: AddressInfo | string | null = server.address()
        resolve(address !== null && typeof address === 'object' ? address.port : port)
      })
    })
    const ports = {
      serving: await listenOne(this.#servers.serving, c.servingPort, c.reusePort),
      h2c: await listenOne(this.#h2cDual.net, c.h2cPort, c.reusePort),
      // Its own address (loopback by default): the revisions API can redirect a revision's traffic.
      admin: await listenOne(this.#servers.admin, c.adminPort, false, c.adminHost),
      metrics: await listenOne(this.#servers.metrics, c.metricsPort),
      tls: this.#tls === null || this.#tls.server === null ? null : await listenOne(this.#tls.server, c.tls.port),
      profiling: null as number | null,
    }
    // Knative's activator fails when its profiling server cannot listen; so does this start.
    if (c.profiling) {
      await this.profiling.set(true)
      ports.profiling = this.profiling.port
    }
    this.reporter.start()
    this.reclaimer?.start()
    if (c.observabilityConfigDir !== '' && c.observabilityDirData !== null) {
      this.#watchConfigDir(new ConfigDirWatcher<ObservabilityConfig>({
        name: 'config-observability',
        dir: c.observabilityConfigDir,
        keys: OBSERVABILITY_KEYS,
        intervalMs: this.#configDirReloadMs,
        initial: c.observabilityDirData,
        parse: parseObservabilityConfigMapUpdate,
        apply: (o11y) => { this.setObservability(o11y) },
        logger: this.logger.child({ component: 'config-observability' }),
      }))
    }
    if (c.observabilityConfigDir !== '' && c.profilingDirData !== null) {
      // Knative: pprof.UpdateFromConfigMap, a watch of its own on the same ConfigMap.
      const log = this.logger.child({ component: 'config-observability' })
      this.#watchConfigDir(new ConfigDirWatcher<boolean>({
        name: 'config-observability (runtime-profiling)',
        dir: c.observabilityConfigDir,
        keys: [RUNTIME_PROFILING_KEY],
        intervalMs: this.#configDirReloadMs,
        initial: c.profilingDirData,
        parse: parseRuntimeProfiling,
        apply: (enabled) => {
          this.profiling.set(enabled).catch((err: unknown) => { log.error({ err }, 'profiling server cannot listen; profiling stays off') })
        },
        logger: log,
        timers: this.#deps.timers,
      }))
    }
    if (c.loggingConfigDir !== '' && c.loggingDirData !== null) {
      this.#watchConfigDir(new ConfigDirWatcher<string>({
        name: 'config-logging',
        dir: c.loggingConfigDir,
        keys: loggingKeys(LOGGING_COMPONENT),
        intervalMs: this.#configDirReloadMs,
        initial: c.loggingDirData,
        parse: (data, problems) => parseLoggingConfigMap(data, LOGGING_COMPONENT, problems),
        apply: (level) => {
          if (!setLogLevel(this.logger, level)) this.logger.warn({ level }, 'config-logging: this logger cannot change its level')
        },
        logger: this.logger.child({ component: 'config-logging' }),
      }))
    }
    this.logger.info({ ports, revisions: this.registry.size, source: c.source, activatorCount: c.activatorCount, activatorIndex: c.activatorIndex, queueDepth: c.queueDepth }, 'activator listening')
    return ports
  }

  /**
   * Graceful stop (SIGTERM): kubelet probes fail at once, traffic is still served through the quiet
   * period, then the listener closes, buffered and in-flight requests finish (each bounded by its
   * revision timeout), websockets get up to TUNNEL_DRAIN_MS, and everything closes.
   */
  shutdown (): Promise<void> {
    if (this.#shutdown === null) this.#shutdown = this.#doShutdown()
    return this.#shutdown
  }

  async #doShutdown (): Promise<void> {
    const log = this.logger
    this.#isTerminating = true
    await this.drainer.drain()
    const closed = Promise.all([
      new Promise<void>((resolve) => { this.#servers.serving.close(() => { resolve() }) }),
      new Promise<void>((resolve) => { this.#h2cDual.net.close(() => { resolve() }) }),
      new Promise<void>((resolve) => {
        const tls = this.#tls?.server ?? null
        if (tls === null) resolve()
        else tls.close(() => { resolve() })
      }),
    ])
    this.#closeIdleServing()
    if (this.active.count > 0) {
      log.info({ active: this.active.count }, 'waiting for buffered and in-flight requests')
      await withTimeout(this.active.whenIdle(), this.#maxTimeoutMs() + 1_000)
    }
    // An exchange ends when its response is handed to the stream; an HTTP/2 response's last frames
    // (the trailers: grpc-status) leave after that. GOAWAY'd sessions close once they are out.
    await withTimeout(this.#h2SessionsClosed(), H2_FLUSH_MS)
    this.#closeAllServing()
    if (this.tunnels.size > 0) {
      log.info({ open: this.tunnels.size }, 'waiting for upgraded connections')
      await withTimeout(waitUntil(() => this.tunnels.size === 0), TUNNEL_DRAIN_MS)
    }
    await closed
    await this.close()
    log.info('activator stopped')
  }

  #maxTimeoutMs (): number {
    let max = this.config.activationTimeoutMs
    for (const r of this.registry.revisions()) max = Math.max(max, r.proxy.timeouts.totalMs)
    return max
  }

  /** Closes everything at once (tests, or after the drain). */
  async close (): Promise<void> {
    this.drainer.close()
    this.reporter.stop()
    this.reclaimer?.stop()
    for (const w of this.#configWatchers) w.stop()
    this.profiling.close()
    for (const source of this.#sources) {
      await source.close().catch((err: unknown) => { this.logger.warn({ err }, 'closing revision source failed') })
    }
    for (const t of this.tunnels) t.socket.destroy()
    const s = this.#servers
    this.#closeAllServing()
    s.serving.close()
    this.#h2cDual.net.close()
    for (const server of [s.admin, s.metrics]) {
      server.closeAllConnections()
      server.close()
    }
    this.registry.close()
    this.sweeper.close()
    this.#upgrades.close()
    if (this.#ownedProbe !== null) await this.#ownedProbe.close()
    if (this.#tls !== null) await this.#tls.close()
    // Last: the final metrics export and the spans still batched (never rejects).
    if (this.telemetry !== null) await this.telemetry.shutdown()
  }
}

async function isFile (path: string): Promise<boolean> {
  try {
    // Not a static import: node:fs/promises' ESM facade loads fs streams at start (issue 12).
    return (await process.getBuiltinModule('node:fs/promises').stat(path)).isFile()
  } catch {
    return false
  }
}

/**
 * HTTP/2 requests go to the endpoint over h2c, whatever the revision's protocol: Knative's activator
 * transport picks h2c by the request (r.ProtoMajor == 2), and the pods' queue-proxy ports (8012 for
 * http1 revisions, 8013 for h2c ones) serve both protocols, as Sluice's sidecar does. HTTP/1.1
 * requests stay HTTP/1.1, to h2c revisions too.
 */
function defaultH2Pool (dest: string): EndpointPool {
  return new H2cUpstream(`http://${dest}`, { connectTimeoutMs: ENDPOINT_CONNECT_TIMEOUT_MS })
}

let undiciPoolClass: typeof import('undici').Pool | null = null

/**
 * undici only for `--upstream-client undici`: required (synchronously, it is CommonJS) when the first
 * pool is made, so the default activator never loads it (~27 MB and ~60 ms; issue 12).
 */
function undiciPool (): typeof import('undici').Pool {
  if (undiciPoolClass === null) {
    const undici: typeof import('undici') = process.getBuiltinModule('node:module').createRequire(import.meta.url)('undici')
    undiciPoolClass = undici.Pool
  }
  return undiciPoolClass
}

function defaultPool (dest: string, client: UpstreamClient): EndpointPool {
  // No client timeouts but connect: the sweeper enforces the revision timeout. No connection
  // limit: the trackers keep each endpoint at or under its containerConcurrency.
  if (client === 'sluice') {
    const colon = dest.lastIndexOf(':')
    const host = dest.slice(0, colon)
    return new H1Upstream({
      host: host.startsWith('[') ? host.slice(1, -1) : host, // IPv6 arrives bracketed
      port: Number(dest.slice(colon + 1)),
      hostHeader: dest,
      connectTimeoutMs: ENDPOINT_CONNECT_TIMEOUT_MS,
    })
  }
  return new (undiciPool())(`http://${dest}`, {
    connections: null,
    pipelining: 1,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: { timeout: ENDPOINT_CONNECT_TIMEOUT_MS },
  })
}

function noop (): void {}
