import type { IncomingMessage } from 'node:http'
import { ANSWER_CODES } from '../shared/errors.ts'
import type { Duplex } from 'node:stream'
import type { ProxyServer } from 'http-proxy-3'
import type { Dispatcher } from 'undici'
import type { DeadlineSweeper } from '../proxy/deadline-sweeper.ts'
import {
  OUTCOME_CLIENT_GONE, OUTCOME_QUEUE_FULL, OUTCOME_REJECTED, outcomeName, ProxyExchange, type ExchangeOwner, type TimeoutPolicy,
} from '../proxy/proxy-exchange.ts'
import { isConnectError } from '../proxy/connect-errors.ts'
import { requestBody } from '../proxy/request-body.ts'
import { requestHost } from '../proxy/request-host.ts'
import { buildUpstreamHeaders, type HeaderRewriteOptions } from '../proxy/request-headers.ts'
import type { KnativeRequestLog, RequestLogRevision } from '../proxy/knative-request-log.ts'
import type { TelemetryHooks } from '../proxy/exchange-telemetry.ts'
import { TUNNEL_WAIT, UpgradeTunnel, type TunnelConnector, type TunnelEndpoint, type TunnelOwner } from '../proxy/upgrade-tunnel.ts'
import type { Upstream } from '../proxy/upstream.ts'
import type { ActiveRequests } from '../server/active-requests.ts'
import type { InboundRequest, InboundResponse } from '../server/inbound.ts'
import type { Logger } from '../shared/logger.ts'
import { BucketHistogram, COLD_START_BUCKETS_SECONDS } from '../stats/bucket-histogram.ts'
import type { RevisionConcurrency } from './concurrency-reporter.ts'
import { PodTracker } from './pod-tracker.ts'
import type { Clock } from '../shared/clock.ts'
import { ColdStartTimeline } from './cold-start-timeline.ts'
import { RetryParking, type ParkingOwner } from './retry-parking.ts'
import type { UpgradeTimeouts } from '../config/upgrade-timeouts.ts'
import { TunnelDeadline } from '../proxy/tunnel-deadline.ts'
import type { Throttler } from './throttler.ts'

// The request path of one revision (Knative's activation handler + throttler.Try): every request
// routed here becomes a ProxyExchange owned by this object, is admitted by the revision's throttler
// (at once, or after waiting FIFO for capacity), gets an endpoint from the LB policy and is forwarded
// with `K-Proxy-Request: activator`, the routing headers removed and the Host kept in K-Original-Host
// (Knative's RewriteHostIn; the sidecar restores it).
//
// Outcomes (each mapped here, once):
//   queue full                         503 `pending request queue full`
//   waited longer than --queue-timeout 503 `request timed out waiting for capacity`
//   revision timeout (timeoutSeconds,  504 `activator request timeout` (Knative's timeout handler body;
//     buffering included)                  Knative answers a throttler deadline with 503, but its
//                                          timeout handler fires first, so clients see this 504)
//   revision removed while buffered    404 `revision removed: <ns>/<name>`
//   endpoint unreachable               retried on another endpoint (<= MAX_RETRIES), else 502; when
//                                      no endpoint has room the retry waits for one (retry-parking.ts)
//   websocket endpoint unreachable     retried on another endpoint (<= MAX_RETRIES; the tunnel connects
//                                      before http-proxy-3 gets the client socket); with none that has
//                                      room it waits like a plain retry (deadline: the revision's
//                                      timeout); retries used up: 502 `upstream connection failed: <code>`
//
// A connect failure takes the endpoint out of rotation and re-probes it (EndpointHealth). A client
// that disconnects while buffered leaves the queue at once (ProxyExchange's close listener), so its
// request, response and socket can be collected: a buffered request holds nothing else.

/** Endpoints tried after the first one for a request that failed to connect. */
export const MAX_RETRIES = 2
/** Connect timeout to an endpoint (the pools', an upgrade's attempt): a pod that does not answer SYN is retried elsewhere. */
export const ENDPOINT_CONNECT_TIMEOUT_MS = 5_000

export const ACTIVATOR_TIMEOUT_BODY = Buffer.from('activator request timeout')
const QUEUE_FULL_BODY = Buffer.from('pending request queue full\n')
const NO_ENDPOINT_BODY = Buffer.from('no endpoint with capacity\n')

/** Receives one call per finished request (metrics layer). */
export interface ExchangeObserver {
  onExchangeDone (ex: ProxyExchange, nowMs: number): void
}

/** What all revisions share: one per activator. */
export interface ProxyContext {
  readonly sweeper: DeadlineSweeper
  /** Monotonic for durations; wall-clock only for the cold-start timeline. */
  readonly clock: Clock
  readonly observer: ExchangeObserver
  /** Plain requests accepted and not finished (drain waits for zero). */
  readonly active: ActiveRequests
  /** Open or buffered upgrade tunnels (drain waits for them, then cuts them). */
  readonly tunnels: Set<UpgradeTunnel>
  readonly wsProxy: ProxyServer
  /** --upgrade-timeouts: whether the revision's timeouts also end an open websocket (Knative) or only its handshake. */
  readonly upgradeTimeouts: UpgradeTimeouts
  readonly requestLog: Logger | null
  /** Knative's request log (template to stdout); null = off. Replaced when config-observability changes: read it per request. */
  readonly knativeRequestLog: KnativeRequestLog | null
  /** OpenTelemetry (src/telemetry/), set at listen; null = off: one null check per request. */
  readonly telemetry: TelemetryHooks | null
}

/** The revision's endpoint bookkeeping, told about connect failures. */
export interface EndpointHealth {
  markFailed (tracker: PodTracker, err: Error): void
}

// Shared by every request: buildUpstreamHeaders is synchronous, so one options object, refilled
// per request, is never seen half-filled.
const HEADER_OPTIONS: HeaderRewriteOptions = {
  clientAddress: null,
  isUpgrade: false,
  extra: null,
  // The client's own claims of having been proxied, and the ingress probe hash (Knative strips it).
  drop: new Set(['k-proxy-request', 'k-network-hash']),
}

export class RevisionProxy implements ExchangeOwner, TunnelOwner, TunnelConnector, ParkingOwner {
  readonly namespace: string
  readonly name: string
  /** `.Revision` of the request log (Knative's activator: namespace and name; no pod). */
  readonly #logRevision: RequestLogRevision
  readonly throttler: Throttler
  readonly concurrency: RevisionConcurrency
  /** Cold starts: first request buffered with no ready endpoint -> first buffered request forwarded. */
  readonly coldStarts: BucketHistogram
  timeouts: TimeoutPolicy
  /** Cold starts whose buffered requests all left (timeout, client gone) before an endpoint came. */
  coldStartsAbandoned: number
  /** Last cold start's "endpoint ready -> first buffered request forwarded" time, ms; NaN before any. */
  lastReadyToForwardMs: number
  /** The last cold start's instants (request, endpoint ready, forwarded, first byte), wall-clock. */
  readonly lastColdStart: ColdStartTimeline
  /** Per upgrade connect attempt (ENDPOINT_CONNECT_TIMEOUT_MS; tests shorten it). */
  tunnelConnectTimeoutMs: number
  readonly #health: EndpointHealth
  readonly #ctx: ProxyContext
  readonly #logger: Logger
  readonly #tunnelTrackers = new Map<UpgradeTunnel, PodTracker>()
  /** Deadlines of buffered tunnels (swept like exchanges). */
  readonly #tunnelDeadlines = new Map<UpgradeTunnel, TunnelDeadline>()
  /** Retries waiting for an endpoint with room, oldest first; each holds an admission slot (bounded). */
  readonly #parked = new Set<ProxyExchange>()
  /** Tunnels whose connect failed while no other endpoint had room; replayed by unpark(). */
  readonly #parkedTunnels = new Set<UpgradeTunnel>()
  readonly #parking: RetryParking
  readonly #removedBody: Buffer
  /** When the current cold start began (first request buffered at zero); -1 = none in progress. */
  #coldStartMs: number
  /** When the ready endpoint count last went from 0 to > 0. */
  #readySinceMs: number
  /** The cold start's first forwarded request, until its response starts (lastColdStart.firstByteWallMs). */
  #coldExchange: ProxyExchange | null
  #isRemoved: boolean

  constructor (namespace: string, name: string, throttler: Throttler, concurrency: RevisionConcurrency,
    health: EndpointHealth, ctx: ProxyContext, timeouts: TimeoutPolicy, logger: Logger) {
    this.namespace = namespace
    this.name = name
    this.#logRevision = Object.freeze({ Name: name, Namespace: namespace, Service: '', Configuration: '', PodName: '', PodIP: '' })
    this.throttler = throttler
    this.concurrency = concurrency
    this.coldStarts = new BucketHistogram(COLD_START_BUCKETS_SECONDS)
    this.timeouts = timeouts
    this.coldStartsAbandoned = 0
    this.lastReadyToForwardMs = Number.NaN
    this.lastColdStart = new ColdStartTimeline()
    this.tunnelConnectTimeoutMs = ENDPOINT_CONNECT_TIMEOUT_MS
    this.#health = health
    this.#ctx = ctx
    this.#logger = logger
    this.#removedBody = Buffer.from(`revision removed: ${namespace}/${name}\n`)
    this.#parking = new RetryParking(this)
    this.#coldStartMs = -1
    this.#readySinceMs = -1
    this.#coldExchange = null
    this.#isRemoved = false
  }

  // --- plain requests ------------------------------------------------------------------------

  /** TunnelConnector: the context's websocket proxy, loaded before the first tunnel reaches it (ws-proxy-gate.ts). */
  get wsProxy (): ProxyServer { return this.#ctx.wsProxy }

  handle (req: InboundRequest, res: InboundResponse): void {
    const ctx = this.#ctx
    const headers = req.headers
    const originalHost = headers['k-original-host']
    const host = typeof originalHost === 'string' && originalHost !== '' ? originalHost : requestHost(req)
    HEADER_OPTIONS.clientAddress = req.socket.remoteAddress ?? null
    // The list is fresh per request: append our headers to it rather than allocating an `extra` list.
    const upstreamHeaders = buildUpstreamHeaders(req.rawHeaders, HEADER_OPTIONS)
    if (host === undefined || host === '') upstreamHeaders.push('k-proxy-request', 'activator')
    else upstreamHeaders.push('k-proxy-request', 'activator', 'k-original-host', host)
    const options: Dispatcher.DispatchOptions = {
      path: req.url ?? '/',
      method: req.method ?? 'GET',
      headers: upstreamHeaders,
      body: requestBody(req),
      upgrade: null,
    }
    const ex = new ProxyExchange(this, req, res, options, false, ctx.clock, this.timeouts)
    const telemetry = ctx.telemetry
    if (telemetry !== null) ex.telemetry = telemetry.begin(ex, this.#logRevision)
    ctx.active.inc()
    this.concurrency.reqIn(ex.startMs)
    ctx.sweeper.add(ex)

    const throttler = this.throttler
    if (throttler.tryAcquire()) {
      ex.holdsSlot = true
      this.#forward(ex)
      return
    }
    if (throttler.enqueue(ex)) {
      ex.markQueued()
      if (this.#coldStartMs < 0 && throttler.readyCount === 0) this.#beginColdStart(ex.startMs)
      return
    }
    ex.fail(OUTCOME_QUEUE_FULL, 503, QUEUE_FULL_BODY)
  }

  #forward (ex: ProxyExchange): void {
    const tracker = this.throttler.pick()
    if (tracker === null) {
      // Unreachable while the throttler's invariant holds (see throttler.ts).
      this.#logger.error({ code: ANSWER_CODES.noCapacity, ready: this.throttler.readyCount, inFlight: this.throttler.inFlight }, 'admitted request found no endpoint with capacity')
      ex.fail(OUTCOME_REJECTED, 503, NO_ENDPOINT_BODY, ANSWER_CODES.noCapacity)
      return
    }
    ex.target = tracker
    ex.dispatch(tracker.poolFor(ex.req.httpVersionMajor))
  }

  onExchangeAdmitted (ex: ProxyExchange): void {
    if (ex.isEnded) { this.#releaseSlot(ex); return }
    if (this.#coldStartMs >= 0) {
      this.#endColdStart()
      this.#coldExchange = ex
    }
    this.#forward(ex)
  }

  onExchangeDequeue (ex: ProxyExchange): void {
    this.throttler.cancel(ex)
    this.#checkAbandoned()
  }

  retryTarget (ex: ProxyExchange, err: Error): Upstream | null {
    const failed = ex.target
    if (failed instanceof PodTracker) {
      ex.target = null
      failed.release()
      if (isConnectError(err)) this.#health.markFailed(failed, err)
    }
    if (ex.retries >= MAX_RETRIES || this.#isRemoved) return null
    const next = this.throttler.pick()
    if (next === null) {
      // Every ready endpoint is at its limit, or none is left: wait for one (or the timeout).
      this.#logger.debug({ err, from: failed instanceof PodTracker ? failed.dest : null }, 'retry waits for an endpoint with room')
      return this.#parking
    }
    this.#logger.debug({ err, from: failed instanceof PodTracker ? failed.dest : null, to: next.dest }, 'retrying request on another endpoint')
    ex.target = next
    return next.poolFor(ex.req.httpVersionMajor)
  }

  onUpstreamFailure (ex: ProxyExchange, err: Error): void {
    const tracker = ex.target
    const dest = tracker instanceof PodTracker ? tracker.dest : null
    if (tracker instanceof PodTracker && isConnectError(err)) this.#health.markFailed(tracker, err)
    this.#logger.warn({ err, code: ANSWER_CODES.upstream, dest, method: ex.options.method, path: ex.options.path, retries: ex.retries, afterResponseStart: ex.firstByteMs >= 0 }, 'upstream request failed')
  }

  serverTiming (ex: ProxyExchange): string | null {
    // Called once per response, as it starts: the one place that sees the first byte.
    if (ex === this.#coldExchange) {
      this.#coldExchange = null
      this.lastColdStart.firstByteWallMs = this.#ctx.clock.wallMs()
    }
    return null
  }

  onExchangeEnd (ex: ProxyExchange): void {
    const ctx = this.#ctx
    ctx.sweeper.remove(ex)
    // Tracker first: returning the breaker slot may admit a waiter at once, which needs a tracker slot.
    // Parked retries were admitted earlier, so they get a freed tracker slot before the queue does.
    if (ex === this.#coldExchange) this.#coldExchange = null
    const tracker = ex.target
    if (tracker instanceof PodTracker) {
      ex.target = null
      tracker.release()
      if (this.#hasParked) this.unpark()
    } else if (this.#parked.size > 0) {
      this.#parked.delete(ex)
    }
    this.#releaseSlot(ex)
    const now = ctx.clock.nowMs()
    this.concurrency.reqOut(now)
    ctx.observer.onExchangeDone(ex, now)
    if (ctx.requestLog !== null) this.#logRequest(ctx.requestLog, ex, tracker, now)
    if (ctx.knativeRequestLog !== null) ctx.knativeRequestLog.log(ex, now, this.#logRevision)
    ctx.active.dec()
  }

  // --- retries waiting for room (RetryParking) -----------------------------------------------

  park (ex: ProxyExchange): void {
    if (ex.isEnded) return
    this.#parked.add(ex)
    // A slot may have freed between the failure and now.
    this.unpark()
  }

  /** Replays parked retries, oldest first, while an endpoint has room. Also after endpoints change. */
  unpark (): void {
    for (const ex of this.#parked) {
      const tracker = this.throttler.pick()
      if (tracker === null) return
      this.#parked.delete(ex)
      ex.target = tracker
      ex.dispatch(tracker.poolFor(ex.req.httpVersionMajor))
    }
    for (const t of this.#parkedTunnels) {
      const tracker = this.throttler.pick()
      if (tracker === null) return
      this.#parkedTunnels.delete(t)
      this.#tunnelTrackers.set(t, tracker)
      t.retryOn(tracker)
    }
  }

  get #hasParked (): boolean { return this.#parked.size > 0 || this.#parkedTunnels.size > 0 }
  get parkedCount (): number { return this.#parked.size }
  get parkedTunnelCount (): number { return this.#parkedTunnels.size }

  #releaseSlot (ex: ProxyExchange): void {
    if (ex.holdsSlot) {
      ex.holdsSlot = false
      this.throttler.release()
    }
  }

  // --- upgrades (websockets) -----------------------------------------------------------------

  handleUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const ctx = this.#ctx
    const t = new UpgradeTunnel(this, req, socket, head, false, ctx.clock.nowMs())
    ctx.tunnels.add(t)
    this.concurrency.reqIn(t.startMs)
    // The revision's timeouts bound the tunnel from its start: buffered, connecting, handshaking
    // and (--upgrade-timeouts knative, Knative's behaviour) open; dropped when it ends.
    const deadline = new TunnelDeadline(t, this.timeouts, ctx.upgradeTimeouts)
    this.#tunnelDeadlines.set(t, deadline)
    ctx.sweeper.add(deadline)
    const throttler = this.throttler
    if (throttler.tryAcquire()) {
      t.holdsSlot = true
      this.#openTunnel(t)
      return
    }
    if (throttler.enqueue(t)) {
      // Buffered: watch the client, so one that leaves gives up its place at once (upgrade-tunnel.ts;
      // connecting and parked tunnels are watched by `connect`).
      t.watchClient()
      if (this.#coldStartMs < 0 && throttler.readyCount === 0) this.#beginColdStart(t.startMs)
      return
    }
    t.reject(503, 'Service Unavailable', 'pending request queue full\n', ANSWER_CODES.queueFull)
  }

  #openTunnel (t: UpgradeTunnel): void {
    const tracker = this.throttler.pick()
    if (tracker === null) {
      t.reject(503, 'Service Unavailable', 'no endpoint with capacity\n', ANSWER_CODES.noCapacity)
      return
    }
    this.#tunnelTrackers.set(t, tracker)
    t.connect(tracker, this)
  }

  onTunnelConnectFailed (t: UpgradeTunnel, err: Error): TunnelEndpoint | typeof TUNNEL_WAIT | null {
    const failed = this.#tunnelTrackers.get(t)
    if (failed !== undefined) {
      this.#tunnelTrackers.delete(t)
      failed.release()
      // A refused endpoint goes back to probing, as on the plain request path (retryTarget).
      if (isConnectError(err)) this.#health.markFailed(failed, err)
    }
    const from = failed?.dest ?? null
    if (t.retries >= MAX_RETRIES || this.#isRemoved) {
      this.#logger.warn({ err, code: ANSWER_CODES.upstream, dest: from, retries: t.retries }, 'upgrade to the endpoint failed')
      if (this.#hasParked) this.unpark()
      return null
    }
    const next = this.throttler.pick()
    if (next === null) {
      // Every other endpoint is at its limit (or none is ready): wait for room like a plain retry,
      // holding the admission slot, bounded by the revision's timeout (TunnelDeadline).
      this.#logger.debug({ err, from, retries: t.retries }, 'upgrade waits for an endpoint with room')
      this.#parkedTunnels.add(t)
      return TUNNEL_WAIT
    }
    this.#logger.debug({ err, from, to: next.dest }, 'retrying upgrade on another endpoint')
    this.#tunnelTrackers.set(t, next)
    return next
  }

  onTunnelAdmitted (t: UpgradeTunnel): void {
    if (t.isEnded) { this.#releaseTunnelSlot(t); return }
    if (this.#coldStartMs >= 0) this.#endColdStart()
    this.#openTunnel(t)
  }

  onTunnelDequeue (t: UpgradeTunnel): void {
    this.throttler.cancel(t)
    this.#checkAbandoned()
  }

  onTunnelError (t: UpgradeTunnel, err: Error): void {
    const tracker = this.#tunnelTrackers.get(t)
    // A refused endpoint goes back to probing, so the next request or upgrade goes elsewhere.
    if (tracker !== undefined && isConnectError(err)) this.#health.markFailed(tracker, err)
    this.#logger.warn({ err, code: ANSWER_CODES.upstream, dest: tracker?.dest ?? null }, 'upgrade to the endpoint failed')
  }

  onTunnelEnd (t: UpgradeTunnel): void {
    this.#ctx.tunnels.delete(t)
    this.#parkedTunnels.delete(t)
    this.#dropTunnelDeadline(t)
    const tracker = this.#tunnelTrackers.get(t)
    if (tracker !== undefined) {
      this.#tunnelTrackers.delete(t)
      tracker.release()
      if (this.#hasParked) this.unpark()
    }
    this.#releaseTunnelSlot(t)
    const now = this.#ctx.clock.nowMs()
    this.concurrency.reqOut(now)
    if (t.outcome === OUTCOME_CLIENT_GONE) this.#logger.debug({ outcome: outcomeName(t.outcome), waitedMs: round3(now - t.startMs) }, 'upgrade client left while waiting')
  }

  #dropTunnelDeadline (t: UpgradeTunnel): void {
    const deadline = this.#tunnelDeadlines.get(t)
    if (deadline === undefined) return
    this.#tunnelDeadlines.delete(t)
    this.#ctx.sweeper.remove(deadline)
  }

  #releaseTunnelSlot (t: UpgradeTunnel): void {
    if (t.holdsSlot) {
      t.holdsSlot = false
      this.throttler.release()
    }
  }

  // --- cold starts ---------------------------------------------------------------------------

  /** The revision's ready endpoints went from `before` to `after`. Call before the throttler sees them. */
  onReadyCountChange (before: number, after: number): void {
    if (before === 0 && after > 0) {
      this.#readySinceMs = this.#ctx.clock.nowMs()
      if (this.#coldStartMs >= 0) this.lastColdStart.endpointReadyWallMs = this.#ctx.clock.wallMs()
    }
  }

  #beginColdStart (startMs: number): void {
    const clock = this.#ctx.clock
    this.#coldStartMs = startMs
    this.lastColdStart.begin(clock.wallMs() - (clock.nowMs() - startMs))
  }

  #endColdStart (): void {
    this.lastColdStart.forwardedWallMs = this.#ctx.clock.wallMs()
    const now = this.#ctx.clock.nowMs()
    const coldMs = now - this.#coldStartMs
    this.#coldStartMs = -1
    this.coldStarts.observe(coldMs / 1000)
    const readyToForwardMs = this.#readySinceMs >= 0 ? now - this.#readySinceMs : Number.NaN
    this.lastReadyToForwardMs = readyToForwardMs
    this.#logger.info({ coldStartMs: round3(coldMs), readyToForwardMs: round3(readyToForwardMs), queued: this.throttler.queued + 1 }, 'cold start: first buffered request forwarded')
  }

  #checkAbandoned (): void {
    if (this.#coldStartMs >= 0 && this.throttler.queued === 0) {
      this.#coldStartMs = -1
      this.coldStartsAbandoned++
    }
  }

  // --- removal -------------------------------------------------------------------------------

  get isRemoved (): boolean { return this.#isRemoved }

  /** The revision is gone: buffered requests get 404 now; requests in flight finish. */
  remove (): void {
    this.#isRemoved = true
    for (const ex of [...this.#parked]) ex.fail(OUTCOME_REJECTED, 404, this.#removedBody, ANSWER_CODES.revisionNotFound)
    for (const t of [...this.#parkedTunnels]) t.reject(404, 'Not Found', this.#removedBody.toString(), ANSWER_CODES.revisionNotFound)
    const breaker = this.throttler.breaker
    for (let w = breaker.oldestWaiter(); w !== null; w = breaker.oldestWaiter()) {
      breaker.cancel(w)
      if (w instanceof ProxyExchange) w.fail(OUTCOME_REJECTED, 404, this.#removedBody, ANSWER_CODES.revisionNotFound)
      else if (w instanceof UpgradeTunnel) w.reject(404, 'Not Found', this.#removedBody.toString(), ANSWER_CODES.revisionNotFound)
    }
    this.#coldStartMs = -1
  }

  #logRequest (log: Logger, ex: ProxyExchange, tracker: unknown, nowMs: number): void {
    log.info({
      namespace: this.namespace,
      revision: this.name,
      method: ex.options.method,
      path: ex.options.path,
      status: ex.statusCode,
      outcome: outcomeName(ex.outcome),
      error: ex.errorCode,
      dest: tracker instanceof PodTracker ? tracker.dest : null,
      retries: ex.retries,
      durationMs: round3(nowMs - ex.startMs),
      queueMs: ex.admittedMs >= 0 ? round3(ex.admittedMs - ex.startMs) : null,
      remoteAddress: ex.req.socket.remoteAddress,
    }, 'request')
  }
}


function round3 (ms: number): number {
  return Math.round(ms * 1000) / 1000
}
