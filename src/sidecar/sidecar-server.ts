import type { ServerHttp2Session } from 'node:http2'
import { createRequire } from 'node:module'
import type { AddressInfo, Server as NetServer } from 'node:net'
import { join } from 'node:path'
import type { Server as TlsServer } from 'node:tls'
import { Breaker } from '../admission/breaker.ts'
import type { SidecarConfig } from '../config/sidecar-config.ts'
import type { InboundRequest } from '../server/inbound.ts'
import { secureContextOptions } from '../config/tls-settings.ts'
import { DeadlineSweeper } from '../proxy/deadline-sweeper.ts'
import { closeAllConnections, closeIdleConnections, createDualServer, MAX_REQUEST_HEAD_BYTES, type DualServer } from '../server/h2c-sniffing-server.ts'
import { H1Upstream } from '../proxy/h1-upstream.ts'
import { H2cUpstream } from '../proxy/h2c-upstream.ts'
import { ExchangeMetrics } from '../proxy/exchange-metrics.ts'
import type { TimeoutPolicy } from '../proxy/proxy-exchange.ts'
import type { Upstream } from '../proxy/upstream.ts'
import { realClock, type Clock } from '../shared/clock.ts'
import type { Logger } from '../shared/logger.ts'
import type { Timers } from '../shared/timers.ts'
import { createMetricsHandler } from '../stats/metrics-server.ts'
import { H1Port } from '../server/h1-port.ts'
import { ProxyMetrics } from '../stats/proxy-metrics.ts'
import { StatsReporter } from '../stats/stats-reporter.ts'
import { createAdminServer } from './admin-server.ts'
import { CERT_FILE, CERT_RELOAD_MS, CertWatcher, KEY_FILE } from '../server/cert-watcher.ts'
import { Drainer } from '../server/drainer.ts'
import { waitUntil, withTimeout } from '../server/drain-waits.ts'
import { SidecarHandler } from './handler.ts'
import type { RequestLogRevision } from '../proxy/knative-request-log.ts'
import { writeStdout, type LineWriter } from '../shared/stdout-line.ts'
import { wantsRequestLog } from '../config/observability-settings.ts'
import { ProbeResponder } from './probe-responder.ts'
import type { ProbeSpec } from './readiness-probe-spec.ts'
import { ReadinessProber } from './readiness-probe.ts'
import { UpgradeGate } from './upgrade-gate.ts'
import type { TelemetryHooks } from '../proxy/exchange-telemetry.ts'
import { loadTelemetry } from '../telemetry/load-telemetry.ts'
import { queueProxyResource } from '../telemetry/telemetry-resource.ts'
import { ProfilingSwitch } from '../profiling/profiling-switch.ts'
import { IdleReclaimer, STARTUP_QUIET_MS, type IdleReclaimerOptions } from '../server/idle-reclaimer.ts'
import { monotonicMs } from '../shared/monotonic.ts'

// Start-up loads only what every sidecar runs (issue 12): Sluice's HTTP/1.1 server and client,
// admission, probes, stats. node:http (Upgrade/CONNECT hand-off), node:http2 (first h2c preface or
// h2c session), the upgrade path with http-proxy-3 (first Upgrade request: upgrade-gate.ts), node:tls
// (a certificate in the cert dir) and undici (--upstream-client undici) load when first needed; the
// request log with its Go template engine (src/go/) and OpenTelemetry only when OBSERVABILITY_CONFIG
// turns them on (listen() loads them).
// test/cli/lazy-loading.test.ts checks what a started sidecar has loaded.

/** Knative's hijackDrainDuration: how long a drain waits for open websockets before cutting them. */
export const TUNNEL_DRAIN_MS = 60_000

export interface SidecarDeps {
  clock?: Clock
  /** How often the TLS certificate and key are re-read (default: a minute, as Knative). */
  certReloadMs?: number
  /** Timers of the certificate reload and of the drain (with `clock`, so both move together in tests). */
  timers?: Timers
  /** Where OBSERVABILITY_CONFIG's request log lines go (default: stdout, as Knative). */
  requestLogWriter?: LineWriter
  /** The idle reclaimer's own timers (default real: not `timers`, whose tests count pending timers), request threshold and collection. */
  idleReclaim?: Partial<Pick<IdleReclaimerOptions, 'timers' | 'minRequests' | 'reclaim' | 'startupQuietMs'>>
}

export interface SidecarPorts {
  serving: number
  /** null: no certificate and key in the cert dir, so no TLS port (as Knative). */
  tls: number | null
  admin: number
  metrics: number
  /** OBSERVABILITY_CONFIG runtime.profiling "enabled": the profiling port; else null (nothing listens). */
  profiling: number | null
}

/** Same as the head timeout of the plain port (Go bounds the handshake by ReadHeaderTimeout). */
const HEADERS_TIMEOUT_MS = 60_000

/** A running sidecar: three servers (four with TLS) around one handler. `shutdown()` is the SIGTERM path. */
export class Sidecar {
  readonly config: SidecarConfig
  readonly logger: Logger
  readonly handler: SidecarHandler
  /** The upgrade path, loaded with the first Upgrade request. */
  readonly upgrades: UpgradeGate
  readonly drainer: Drainer
  readonly prober: ReadinessProber
  readonly stats: StatsReporter
  readonly metrics: ProxyMetrics
  readonly breaker: Breaker | null
  /** The profiling server (src/profiling/), on only when OBSERVABILITY_CONFIG enables it. */
  readonly profiling: ProfilingSwitch
  /** Memory back after a burst (--idle-reclaim-seconds); null when off. */
  readonly reclaimer: IdleReclaimer | null
  readonly #servers: { serving: NetServer; admin: H1Port; metrics: H1Port }
  readonly #dual: DualServer
  readonly #h2Sessions = new Set<ServerHttp2Session>()
  readonly #pool: Upstream & { close (): Promise<void> }
  readonly #h2c: H2cUpstream | null
  readonly #sweeper: DeadlineSweeper
  readonly #deps: SidecarDeps
  readonly #probes: ProbeResponder
  readonly #logRevision: RequestLogRevision
  /** The TLS port and its certificate reload, once listen() found a certificate and key. */
  #tls: TlsServer | null = null
  #certWatcher: CertWatcher | null = null
  #shutdown: Promise<void> | null = null
  /** OpenTelemetry's hooks once listen() loaded them; null when off. */
  #telemetry: TelemetryHooks | null = null
  /** SIGTERM received: a preStop drain is the pod's shutdown, never reset. */
  #isTerminating = false

  constructor (config: SidecarConfig, probes: readonly ProbeSpec[], logger: Logger, deps: SidecarDeps = {}) {
    const clock = deps.clock ?? realClock
    this.#deps = deps
    this.config = config
    this.logger = logger
    const cc = config.containerConcurrency
    const target = `http://${config.userHost.includes(':') ? `[${config.userHost}]` : config.userHost}:${config.userPort}`
    // Keep-alive pool to the user container (--upstream-client: our H1Upstream or undici's Pool);
    // at most CC sockets since at most CC requests run. No client timeouts but connect: the
    // sweeper enforces Knative's timeouts.
    this.#pool = config.upstreamClient === 'sluice'
      ? new H1Upstream({ host: config.userHost, port: config.userPort, maxConnections: cc, connectTimeoutMs: 10_000 })
      : new (loadUndici().Pool)(target, {
        connections: cc > 0 ? cc : null,
        pipelining: 1,
        headersTimeout: 0,
        bodyTimeout: 0,
        connect: { timeout: 10_000 },
      })
    // h2c: HTTP/2 requests (gRPC) go to the app over h2c in auto mode; `h2c` sends everything so.
    this.#h2c = config.upstreamProtocol === 'http1' ? null : new H2cUpstream(target)
    this.profiling = new ProfilingSwitch({ ...config.profilingListen, mode: 'sidecar', logger: logger.child({ component: 'profiling' }), timers: deps.timers, clock })
    this.breaker = cc > 0 ? new Breaker({ capacity: cc, queueDepth: config.queueDepth }) : null
    const breaker = this.breaker
    this.prober = new ReadinessProber(probes, { logger: logger.child({ component: 'readiness' }) })
    this.drainer = new Drainer({
      quietMs: config.drainMs,
      maxMs: config.drainMs + config.revisionTimeoutMs,
      logger: logger.child({ component: 'drainer' }),
      now: () => clock.nowMs(),
      timers: deps.timers,
    })
    this.#sweeper = new DeadlineSweeper(() => clock.nowMs())
    const timeouts: TimeoutPolicy = Object.freeze({
      totalMs: config.revisionTimeoutMs > 0 ? config.revisionTimeoutMs : Number.POSITIVE_INFINITY,
      responseStartMs: config.responseStartTimeoutMs,
      idleMs: config.idleTimeoutMs,
      queueMs: 0,
      timeoutBody: Buffer.from('request timeout'),
    })
    this.metrics = new ProxyMetrics({
      gauges: () => ({
        inFlight: this.handler.active + this.upgrades.count,
        queueDepth: breaker === null ? 0 : breaker.queued,
      }),
    })
    this.stats = new StatsReporter({
      podName: config.pod,
      namespace: config.namespace,
      configuration: config.configuration,
      revision: config.revision,
      clock,
      enabled: config.stats,
      proxyMetrics: this.metrics,
    })
    const logRevision = logRevisionOf(config)
    this.#logRevision = logRevision
    // The request log (and its probe listener) is set by listen() when OBSERVABILITY_CONFIG turns it on.
    const probeResponder = new ProbeResponder(this.prober, this.drainer, null)
    this.#probes = probeResponder
    this.handler = new SidecarHandler({
      upstream: config.upstreamProtocol === 'h2c' && this.#h2c !== null ? this.#h2c : this.#pool,
      h2Upstream: this.#h2c,
      breaker,
      probes: probeResponder,
      drain: this.drainer,
      recorder: this.stats.stats,
      observer: new ExchangeMetrics(this.metrics),
      sweeper: this.#sweeper,
      clock,
      timeouts,
      serverTiming: config.serverTiming,
      requestLog: config.requestLog ? logger.child({ component: 'request' }) : null,
      knativeRequestLog: null,
      logRevision,
      logger: logger.child({ component: 'proxy' }),
    })
    this.upgrades = new UpgradeGate({
      target,
      breaker,
      recorder: this.stats.stats,
      now: () => clock.nowMs(),
      drain: this.drainer,
      sweeper: this.#sweeper,
      timeouts,
      upgradeTimeouts: config.upgradeTimeouts,
      logger,
    }, logger)

    const upgrades = this.upgrades
    const dual = createDualServer({
      impl: config.httpServer,
      http2: true,
      keepAliveTimeoutMs: 65_000,
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      maxHeadBytes: MAX_REQUEST_HEAD_BYTES,
      logger: logger.child({ component: 'http' }),
      // Created on first need (h2c-sniffing-server.ts): the listeners go on then.
      onHttpServer: (http) => {
        http.on('upgrade', upgrades.handle)
      },
      onH2Server: (h2) => {
        h2.on('session', (session) => {
          this.#h2Sessions.add(session)
          session.once('close', () => { this.#h2Sessions.delete(session) })
        })
      },
    }, this.handler.handle)
    this.#dual = dual
    this.reclaimer = config.idleReclaimMs <= 0
      ? null
      : new IdleReclaimer({
        activity: { finished: () => this.metrics.latency.count, inFlight: () => this.handler.active + this.upgrades.count },
        idleMs: config.idleReclaimMs,
        mallocTrimAddon: config.mallocTrimAddon,
        // One memory-reducing GC + malloc_trim once listening and quiet 0.5-1 s: idle RSS -1.5 MB (issue 12).
        startupQuietMs: STARTUP_QUIET_MS,
        clock,
        logger: logger.child({ component: 'reclaim' }),
        ...deps.idleReclaim,
      })
    // Sluice's HTTP/1.1 server on the admin and metrics ports too: node:http costs ~15 MB (issue 12).
    const metricsHandler = createMetricsHandler(this.stats, logger.child({ component: 'metrics' }))
    this.#servers = {
      serving: dual.net,
      admin: createAdminServer({
        drainer: this.drainer,
        logger: logger.child({ component: 'admin' }),
        isTerminating: () => this.#isTerminating,
        timers: deps.timers,
      }),
      metrics: new H1Port({ keepAliveTimeoutMs: 65_000, headersTimeoutMs: HEADERS_TIMEOUT_MS, maxHeadBytes: MAX_REQUEST_HEAD_BYTES, logger: logger.child({ component: 'metrics' }) }, metricsHandler),
    }
  }

  /**
   * OBSERVABILITY_CONFIG's request log, when it is on: its template compiled, the Go template engine
   * and the request log's Go emulation loaded now, once, before the port listens (a default sidecar
   * loads none of them; issue 12, test/cli/lazy-loading.test.ts).
   */
  async #loadRequestLog (): Promise<void> {
    const [{ withRequestLogTemplate }, { knativeRequestLogFor, REQUEST_LOG_UNAVAILABLE }] = await Promise.all([
      import('../config/observability-config.ts'),
      import('../proxy/knative-request-log.ts'),
    ])
    const o11y = withRequestLogTemplate(this.config.observability)
    // As queue-proxy's requestLogHandler: a template that does not parse is logged and the sidecar serves without a request log.
    if (o11y.requestLogTemplateError !== null) this.logger.error({ err: o11y.requestLogTemplateError }, REQUEST_LOG_UNAVAILABLE)
    const log = knativeRequestLogFor(o11y, this.#deps.requestLogWriter ?? writeStdout, 'queue-proxy')
    if (log === null) return
    this.handler.useKnativeRequestLog(log)
    // enableProbeRequestLog: the probes answered here are logged too (Knative's log wraps its health handler).
    if (o11y.enableProbeRequestLog) {
      const logRevision = this.#logRevision
      this.#probes.useAnswerListener((req: InboundRequest, status: number, bytes: number, startMs: number) => { log.logAnswered(req, status, bytes, monotonicMs() - startMs, logRevision) })
    }
  }

  /**
   * Listens on all ports (0 = any free port) and starts probing the user container. The TLS port
   * only when the cert dir holds both files (Knative: exists(certPath) && exists(keyPath)); a
   * pair that does not load then fails the start, as it is fatal in Knative.
   */
  async listen (): Promise<SidecarPorts> {
    const c = this.config
    const listenOne = (server: NetServer, port: number): Promise<number> => new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, c.host, () => {
        server.off('error', reject)
        resolve((server.address() as AddressInfo).port)
      })
    })
    // `--upstream-protocol h2c` sends every request over HTTP/2: load node:http2 now, not on the
    // first request's path (in `auto` the first HTTP/2 preface loads it, for its own server too).
    if (c.upstreamProtocol === 'h2c') process.getBuiltinModule('node:http2')
    // OpenTelemetry when OBSERVABILITY_CONFIG exports something (else nothing is loaded): its
    // exporters, and with `prometheus` its listener (:9091, Knative's UserQueueMetricsPort), are up
    // before the first request.
    if (wantsRequestLog(c.observability)) await this.#loadRequestLog()
    const breaker = this.breaker
    this.#telemetry = await loadTelemetry({
      site: 'queue-proxy',
      config: c.telemetry,
      resource: queueProxyResource(c),
      prometheus: c.prometheusServer,
      inFlight: breaker === null ? null : () => breaker.inFlight,
      upstreamHost: c.userHost,
      upstreamPort: c.userPort,
      writeLine: writeStdout,
      logger: this.logger.child({ component: 'telemetry' }),
    })
    this.handler.useTelemetry(this.#telemetry)
    const serving = await listenOne(this.#servers.serving, c.servingPort)
    const tls = await this.#startTls()
    const ports = {
      serving,
      tls: tls === null ? null : await listenOne(tls, c.tlsPort),
      admin: await listenOne(this.#servers.admin.net, c.adminPort),
      metrics: await listenOne(this.#servers.metrics.net, c.metricsPort),
      profiling: null as number | null,
    }
    // As queue-proxy: the pprof server only when runtime.profiling is "enabled"; failing to listen fails the start.
    if (c.profiling) {
      await this.profiling.set(true)
      ports.profiling = this.profiling.port
    }
    this.stats.start()
    this.reclaimer?.start()
    const startMs = monotonicMs()
    this.prober.waitUntilReady().then(
      () => { this.logger.info({ afterMs: Math.round(monotonicMs() - startMs) }, 'startup probe passed') },
      () => { /* closed before ready */ })
    this.logger.info({ ports, containerConcurrency: c.containerConcurrency, queueDepth: c.queueDepth, userPort: c.userPort }, 'sidecar listening')
    return ports
  }

  /** Loads the certificate and creates the TLS port's server, or returns null when there is none. */
  async #startTls (): Promise<TlsServer | null> {
    const c = this.config
    const certPath = join(c.tlsCertDir, CERT_FILE)
    const keyPath = join(c.tlsCertDir, KEY_FILE)
    if (!exists(certPath) || !exists(keyPath)) {
      this.logger.info({ certPath, keyPath }, 'no TLS certificate and key: TLS port off')
      return null
    }
    const log = this.logger.child({ component: 'tls' })
    // node:tls and the TLS listener only when there is a certificate (most pods have none).
    const { createTlsListener } = await import('../server/tls-listener.ts')
    const { createSecureContext } = process.getBuiltinModule('node:tls')
    const watcher = new CertWatcher({
      certPath,
      keyPath,
      intervalMs: this.#deps.certReloadMs ?? CERT_RELOAD_MS,
      timers: this.#deps.timers,
      logger: log,
      install: (cert, key) => {
        const secure = secureContextOptions(c.tls, cert, key)
        if (this.#tls === null) {
          this.#tls = createTlsListener(this.#dual, { secure, handshakeTimeoutMs: HEADERS_TIMEOUT_MS, logger: log })
        } else {
          createSecureContext(secure) // throws on a bad pair before the server's context changes
          this.#tls.setSecureContext(secure)
        }
      },
    })
    this.#certWatcher = watcher
    await watcher.start()
    return this.#tls
  }

  /**
   * Graceful stop (SIGTERM): fail probes, serve through the quiet period, stop accepting, finish
   * queued and in-flight requests, give websockets up to TUNNEL_DRAIN_MS, then close everything.
   */
  shutdown (): Promise<void> {
    this.#isTerminating = true
    if (this.#shutdown === null) this.#shutdown = this.#doShutdown()
    return this.#shutdown
  }

  async #doShutdown (): Promise<void> {
    const log = this.logger
    await this.drainer.drain()
    const closed = Promise.all([this.#servers.serving, this.#tls].map((server) => new Promise<void>((resolve) => {
      if (server === null) resolve()
      else server.close(() => { resolve() })
    })))
    closeIdleConnections(this.#dual)
    for (const session of this.#h2Sessions) session.close() // GOAWAY: no new streams, in-flight ones finish
    await withTimeout(this.handler.whenIdle(), this.config.revisionTimeoutMs)
    closeAllConnections(this.#dual)
    for (const session of this.#h2Sessions) session.destroy()
    if (this.upgrades.count > 0) {
      log.info({ open: this.upgrades.count }, 'waiting for upgraded connections')
      await withTimeout(waitUntil(() => this.upgrades.count === 0), TUNNEL_DRAIN_MS)
      this.upgrades.destroyAll()
    }
    await closed
    await this.close()
    log.info('sidecar stopped')
  }

  /** Closes everything at once (tests, or after the drain). */
  async close (): Promise<void> {
    this.drainer.close()
    this.stats.stop()
    this.reclaimer?.stop()
    this.#certWatcher?.stop()
    this.prober.close()
    this.#sweeper.close()
    this.upgrades.destroyAll()
    const s = this.#servers
    closeAllConnections(this.#dual)
    for (const session of this.#h2Sessions) session.destroy()
    s.serving.close()
    this.#tls?.close()
    s.admin.close()
    s.metrics.close()
    this.profiling.close()
    this.upgrades.close()
    // Not awaited (it never rejects): it resolves when the session's streams end, and shutdown does not wait on those.
    if (this.#h2c !== null) void this.#h2c.close()
    await this.#pool.close().catch(() => {})
    // Last: the final metrics export and the spans still batched (never rejects).
    if (this.#telemetry !== null) await this.#telemetry.shutdown()
  }
}

/**
 * Knative's exists(): false only for a missing file; any other error is fatal. Synchronous (once,
 * at start, two paths): node:fs/promises would be loaded for this alone (issue 12).
 */
function exists (path: string): boolean {
  try {
    process.getBuiltinModule('node:fs').statSync(path)
    return true
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return false
    throw err
  }
}

/**
 * undici only for `--upstream-client undici`: loaded on demand, so the default sidecar does not
 * carry all of undici in memory (about 6-9 MB of RSS here).
 */
function loadUndici (): typeof import('undici') {
  const undici: typeof import('undici') = createRequire(import.meta.url)('undici')
  return undici
}


function logRevisionOf (config: SidecarConfig): RequestLogRevision {
  return Object.freeze({
    Name: config.revision,
    Namespace: config.namespace,
    Service: config.service,
    Configuration: config.configuration,
    PodName: config.pod,
    PodIP: config.podIp,
  })
}
