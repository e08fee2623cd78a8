import type { Dispatcher } from 'undici'
import { ANSWER_CODES } from '../shared/errors.ts'
import type { Breaker } from '../admission/breaker.ts'
import type { DeadlineSweeper } from '../proxy/deadline-sweeper.ts'
import type { Upstream } from '../proxy/upstream.ts'
import {
  OUTCOME_QUEUE_FULL, outcomeName, ProxyExchange, type ExchangeClock, type ExchangeOwner, type TimeoutPolicy,
} from '../proxy/proxy-exchange.ts'
import { buildUpstreamHeaders, type HeaderRewriteOptions } from '../proxy/request-headers.ts'
import { absoluteTargetHost } from '../proxy/request-host.ts'
import { requestBody } from '../proxy/request-body.ts'
import { ActiveRequests } from '../server/active-requests.ts'
import type { InboundRequest, InboundResponse } from '../server/inbound.ts'
import type { KnativeRequestLog, RequestLogRevision } from '../proxy/knative-request-log.ts'
import type { Logger } from '../shared/logger.ts'
import { serverTimingValue } from '../stats/server-timing.ts'
import type { ProbeResponder } from './probe-responder.ts'
import type { TelemetryHooks } from '../proxy/exchange-telemetry.ts'

/** Counts requests in and out for the time-weighted concurrency average (stats layer). */
export interface TrafficRecorder {
  reqIn (proxied: boolean, nowMs: number): void
  reqOut (proxied: boolean, nowMs: number): void
}

/** Receives one call per finished request (metrics layer). */
export interface ExchangeObserver {
  onExchangeDone (ex: ProxyExchange, nowMs: number): void
}

export interface SidecarHandlerOptions {
  /** Where HTTP/1.1 requests go (or every request with --upstream-protocol h2c). */
  upstream: Upstream
  /** Where HTTP/2 requests go (auto mode); null = same as `upstream`. */
  h2Upstream: Upstream | null
  /** null: unlimited concurrency (CONTAINER_CONCURRENCY=0), no queue. */
  breaker: Breaker | null
  probes: ProbeResponder
  drain: { readonly isDraining: boolean; touch (): void }
  recorder: TrafficRecorder
  observer: ExchangeObserver
  sweeper: DeadlineSweeper
  clock: ExchangeClock
  timeouts: TimeoutPolicy
  serverTiming: boolean
  requestLog: Logger | null
  /** OBSERVABILITY_CONFIG's request log (Knative's template, stdout); null = off (or not loaded yet: useKnativeRequestLog). */
  knativeRequestLog: KnativeRequestLog | null
  /** This pod's revision, as the request log shows it. */
  logRevision: RequestLogRevision
  logger: Logger
}

const QUEUE_FULL_BODY = Buffer.from('pending request queue full\n')
const HEADER_OPTIONS_BASE: HeaderRewriteOptions = { clientAddress: null, isUpgrade: false, extra: null, drop: null }

/**
 * The sidecar's request path: probes are answered here, everything else is admitted through the
 * breaker (CC slots + FIFO queue, overflow -> 503) and proxied to the user container.
 * Per request: one ProxyExchange, one header list, one options object; no closures.
 */
export class SidecarHandler implements ExchangeOwner {
  readonly #o: SidecarHandlerOptions
  readonly #upstream: Upstream
  readonly #h2Upstream: Upstream
  readonly #breaker: Breaker | null
  /** Requests accepted and not yet finished (queued or in flight), probes excluded. */
  readonly #active = new ActiveRequests()
  readonly #headerOptions: HeaderRewriteOptions
  /** OpenTelemetry (useTelemetry); null = off, the default: one null check per request. */
  #telemetry: TelemetryHooks | null

  constructor (o: SidecarHandlerOptions) {
    this.#o = o
    this.#upstream = o.upstream
    this.#h2Upstream = o.h2Upstream ?? o.upstream
    this.#breaker = o.breaker
    this.#headerOptions = { ...HEADER_OPTIONS_BASE }
    this.#telemetry = null
    this.handle = this.handle.bind(this)
  }

  /** Turns OpenTelemetry on for the requests from now on (set before the port listens). */
  useTelemetry (hooks: TelemetryHooks | null): void { this.#telemetry = hooks }

  /**
   * Turns OBSERVABILITY_CONFIG's request log on for the requests from now on (set before the port
   * listens: Sidecar.listen loads it, and the Go emulation with it, only when it is on). The field of
   * the options object it was given, so the request path reads it as before.
   */
  useKnativeRequestLog (log: KnativeRequestLog | null): void { this.#o.knativeRequestLog = log }

  get breaker (): Breaker | null { return this.#breaker }

  handle (req: InboundRequest, res: InboundResponse): void {
    const o = this.#o
    if (o.probes.tryAnswer(req, res)) return
    if (o.drain.isDraining) o.drain.touch()

    const headers = req.headers
    const proxied = headers['k-proxy-request'] === 'activator'
    const headerOptions = this.#headerOptions
    headerOptions.clientAddress = req.socket.remoteAddress ?? null
    const options: Dispatcher.DispatchOptions = {
      path: req.url ?? '/',
      method: req.method ?? 'GET',
      headers: buildUpstreamHeaders(req.rawHeaders, headerOptions, absoluteTargetHost(req)),
      body: requestBody(req),
      upgrade: null,
    }
    const ex = new ProxyExchange(this, req, res, options, proxied, o.clock, o.timeouts)
    const telemetry = this.#telemetry
    if (telemetry !== null) ex.telemetry = telemetry.begin(ex, null)
    const upstream = req.httpVersionMajor === 2 ? this.#h2Upstream : this.#upstream
    this.#active.inc()
    o.recorder.reqIn(proxied, ex.startMs)
    o.sweeper.add(ex)

    const breaker = this.#breaker
    if (breaker === null) { ex.dispatch(upstream); return }
    if (breaker.tryAcquire()) {
      ex.holdsSlot = true
      ex.dispatch(upstream)
      return
    }
    if (breaker.enqueue(ex)) { ex.markQueued(); return }
    ex.fail(OUTCOME_QUEUE_FULL, 503, QUEUE_FULL_BODY)
  }

  onExchangeAdmitted (ex: ProxyExchange): void {
    if (ex.isEnded) { this.#releaseSlot(ex); return }
    ex.dispatch(ex.req.httpVersionMajor === 2 ? this.#h2Upstream : this.#upstream)
  }

  onExchangeDequeue (ex: ProxyExchange): void {
    if (this.#breaker !== null) this.#breaker.cancel(ex)
  }

  retryTarget (ex: ProxyExchange, err: Error): Upstream | null {
    // One retry, for the keep-alive race only: a refused connection to our own pod's container
    // will be refused again.
    if (ex.retries > 0 || (err as { code?: unknown }).code === 'ECONNREFUSED') return null
    this.#o.logger.debug({ err, path: ex.options.path }, 'retrying request after upstream socket reset')
    return ex.dispatcher
  }

  onUpstreamFailure (ex: ProxyExchange, err: Error): void {
    this.#o.logger.warn({ err, code: ANSWER_CODES.upstream, method: ex.options.method, path: ex.options.path, afterResponseStart: ex.firstByteMs >= 0 }, 'upstream request failed')
  }

  serverTiming (ex: ProxyExchange): string | null {
    if (!this.#o.serverTiming) return null
    const admitted = ex.admittedMs >= 0 ? ex.admittedMs : ex.startMs
    return serverTimingValue(admitted - ex.startMs, ex.firstByteMs - admitted)
  }

  onExchangeEnd (ex: ProxyExchange): void {
    const o = this.#o
    o.sweeper.remove(ex)
    this.#releaseSlot(ex)
    const now = o.clock.nowMs()
    o.recorder.reqOut(ex.proxied, now)
    o.observer.onExchangeDone(ex, now)
    if (o.requestLog !== null) logRequest(o.requestLog, ex, now)
    if (o.knativeRequestLog !== null) o.knativeRequestLog.log(ex, now, o.logRevision)
    this.#active.dec()
  }

  #releaseSlot (ex: ProxyExchange): void {
    if (ex.holdsSlot) {
      ex.holdsSlot = false
      if (this.#breaker !== null) this.#breaker.release()
    }
  }

  /** Requests accepted and not yet finished (queued or in flight), probes excluded. */
  get active (): number { return this.#active.count }

  /** Resolves once no request is queued or in flight (drain). */
  whenIdle (): Promise<void> { return this.#active.whenIdle() }
}


function logRequest (log: Logger, ex: ProxyExchange, nowMs: number): void {
  log.info({
    method: ex.options.method,
    path: ex.options.path,
    status: ex.statusCode,
    outcome: outcomeName(ex.outcome),
    error: ex.errorCode,
    proxied: ex.proxied,
    durationMs: Math.round((nowMs - ex.startMs) * 1000) / 1000,
    queueMs: ex.admittedMs >= 0 ? Math.round((ex.admittedMs - ex.startMs) * 1000) / 1000 : null,
    remoteAddress: ex.req.socket.remoteAddress,
  }, 'request')
}
