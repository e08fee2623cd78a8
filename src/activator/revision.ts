import type { Clock } from '../shared/clock.ts'
import type { Timers } from '../shared/timers.ts'
import type { TimeoutPolicy } from '../proxy/proxy-exchange.ts'
import type { Logger } from '../shared/logger.ts'
import type { ActivatorSlot } from './activator-slice.ts'
import { ClusterIpRoute, type ClusterIpRouteListener } from './cluster-ip-route.ts'
import type { ConcurrencyReporter } from './concurrency-reporter.ts'
import { EndpointProber, type ProberListener, type ProberSchedule } from './endpoint-prober.ts'
import type { RandomInt } from './lb-policy.ts'
import { PodTracker, TRACKER_FAILED, TRACKER_PROBING, TRACKER_READY, TRACKER_REMOVED, type EndpointPool } from './pod-tracker.ts'
import type { EndpointProbe, ProbeVerdict } from '../proxy/endpoint-probe.ts'
import { ACTIVATOR_TIMEOUT_BODY, RevisionProxy, type EndpointHealth, type ProxyContext } from './revision-proxy.ts'
import type { RevisionSpec } from './revision-spec.ts'
import { Throttler } from './throttler.ts'

// One revision as the activator keeps it (Knative's revisionWatcher + revisionThrottler state): the
// trackers of its endpoints, one prober per endpoint that is not ready, the throttler, and the
// request path (RevisionProxy). Sources replace the whole spec (`update`); this works out the
// difference: new endpoints are probed before they get traffic, endpoints that left are taken out of
// rotation at once (their requests in flight finish, then the pool closes), a changed CC resizes
// every tracker and the breaker. The activator slot is the spec's when it has one (the Kubernetes
// source learns it per revision), else the registry's (flags), which setActivators() may change.
// With spec.clusterIp (mesh-compatibility-mode enabled or auto) a ClusterIpRoute may take over: then
// the revision's one destination is its private service, and its pods are not probed.

const NO_ENDPOINTS: readonly string[] = Object.freeze([])

export interface RevisionDeps {
  readonly ctx: ProxyContext
  readonly reporter: ConcurrencyReporter
  readonly probe: EndpointProbe
  readonly proberSchedule: ProberSchedule
  readonly proberTimers: Timers
  /** Times the gaps between attempts; goes with proberTimers (a ManualTimers' clock in tests). */
  readonly proberClock: Clock
  /** Keep-alive connection pool to one endpoint. */
  readonly createPool: (dest: string) => EndpointPool
  /** h2c session to one endpoint, for requests that came in over HTTP/2; null = they use createPool's. */
  readonly createH2Pool: ((dest: string) => EndpointPool) | null
  /**
   * How the private service (spec.clusterIp) is dialed and probed when not as the pods are
   * (internal TLS: its port 443, where Knative's activator sends); absent or null = as the pods.
   */
  readonly serviceDial?: ServiceDial | null
  readonly queueDepth: number
  /** This replica's place among the activators, for revisions whose spec does not say. */
  readonly activators: ActivatorSlot
  /** Total timeout for revisions without timeoutSeconds, ms. */
  readonly defaultTimeoutMs: number
  /** --queue-timeout, ms; 0 = off. */
  readonly queueTimeoutMs: number
  readonly randomInt?: RandomInt
  readonly logger: Logger
}

export interface ServiceDial {
  readonly createPool: (dest: string) => EndpointPool
  /** HTTP/2 to the service (h2 over TLS at its TLS port); null = HTTP/2 requests go as HTTP/1.1. */
  readonly createH2Pool: ((dest: string) => EndpointPool) | null
  readonly probe: EndpointProbe
}

export function timeoutPolicyFor (spec: RevisionSpec, defaultTimeoutMs: number, queueTimeoutMs: number): TimeoutPolicy {
  return Object.freeze({
    totalMs: spec.timeoutSeconds !== null ? spec.timeoutSeconds * 1000 : defaultTimeoutMs,
    responseStartMs: (spec.responseStartTimeoutSeconds ?? 0) * 1000,
    idleMs: (spec.idleTimeoutSeconds ?? 0) * 1000,
    queueMs: queueTimeoutMs,
    timeoutBody: ACTIVATOR_TIMEOUT_BODY,
  })
}

export class Revision implements ProberListener, EndpointHealth, ClusterIpRouteListener {
  spec: RevisionSpec
  readonly proxy: RevisionProxy
  readonly throttler: Throttler
  readonly #deps: RevisionDeps
  readonly #logger: Logger
  readonly #trackers = new Map<string, PodTracker>()
  readonly #probers = new Map<string, EndpointProber>()
  /** The registry's slot; spec.activators overrides it. */
  #defaultActivators: ActivatorSlot
  #readyCount = 0
  #isClosed = false
  /** The private service as a destination (spec.clusterIp); null = pods only. */
  #clusterIp: ClusterIpRoute | null
  /** spec.notReadyEndpoints as last synced: to spot endpoints that went from ready to not ready. */
  #notReady: ReadonlySet<string>

  constructor (spec: RevisionSpec, deps: RevisionDeps) {
    this.spec = spec
    this.#deps = deps
    this.#logger = deps.logger
    this.#defaultActivators = deps.activators
    this.#clusterIp = null
    this.#notReady = new Set()
    const throttlerOptions = {
      containerConcurrency: spec.containerConcurrency,
      queueDepth: deps.queueDepth,
      activators: spec.activators ?? deps.activators,
      lbPolicy: spec.lbPolicy,
    }
    this.throttler = new Throttler(deps.randomInt === undefined ? throttlerOptions : { ...throttlerOptions, randomInt: deps.randomInt })
    this.proxy = new RevisionProxy(spec.namespace, spec.name, this.throttler, deps.reporter.register(spec.namespace, spec.name),
      this, deps.ctx, timeoutPolicyFor(spec, deps.defaultTimeoutMs, deps.queueTimeoutMs), deps.logger)
    this.#updateClusterIp(spec)
    this.#syncEndpoints(spec)
    this.#logger.info({ containerConcurrency: spec.containerConcurrency, endpoints: spec.endpoints.length, notReady: spec.notReadyEndpoints?.length ?? 0, lbPolicy: this.throttler.policyName }, 'revision added')
  }

  get key (): string { return `${this.spec.namespace}/${this.spec.name}` }
  get readyCount (): number { return this.#readyCount }
  get isClosed (): boolean { return this.#isClosed }
  /** The private-service route (spec.clusterIp), null without one: tests and logs. */
  get clusterIp (): ClusterIpRoute | null { return this.#clusterIp }

  /** Trackers of the current endpoints, in no particular order. */
  trackers (): IterableIterator<PodTracker> { return this.#trackers.values() }

  /** Replaces the spec (same namespace/name). */
  update (spec: RevisionSpec): void {
    if (this.#isClosed) return
    const before = this.spec
    this.spec = spec
    const cc = spec.containerConcurrency
    if (spec.timeoutSeconds !== before.timeoutSeconds ||
        (spec.responseStartTimeoutSeconds ?? null) !== (before.responseStartTimeoutSeconds ?? null) ||
        (spec.idleTimeoutSeconds ?? null) !== (before.idleTimeoutSeconds ?? null)) {
      this.proxy.timeouts = timeoutPolicyFor(spec, this.#deps.defaultTimeoutMs, this.#deps.queueTimeoutMs)
    }
    this.throttler.setPolicyOverride(spec.lbPolicy)
    this.throttler.setActivators(spec.activators ?? this.#defaultActivators)
    // Each throttler change recomputes the assigned trackers' limits and the breaker together
    // (Throttler.#resize), so trackers and breaker agree after every step, in any order.
    this.throttler.setContainerConcurrency(cc)
    this.#updateClusterIp(spec)
    this.#syncEndpoints(spec)
    this.#logger.info({ containerConcurrency: cc, endpoints: spec.endpoints.length, notReady: spec.notReadyEndpoints?.length ?? 0, ready: this.#readyCount, lbPolicy: this.throttler.policyName }, 'revision updated')
  }

  /** The registry's slot changed; applies unless the spec carries its own. */
  setActivators (slot: ActivatorSlot): void {
    this.#defaultActivators = slot
    this.throttler.setActivators(this.spec.activators ?? slot)
  }

  // --- endpoint health -----------------------------------------------------------------------

  onProbeSuccess (prober: EndpointProber): void {
    const tracker = this.#trackers.get(prober.dest)
    if (tracker === undefined || this.#isClosed) return
    if (tracker.state === TRACKER_PROBING || tracker.state === TRACKER_FAILED) {
      const wasFailed = tracker.state === TRACKER_FAILED
      tracker.state = TRACKER_READY
      this.#logger.info({ dest: tracker.dest, attempts: prober.attempts, wasFailed }, 'endpoint ready')
      this.#clusterIp?.onPodReady(tracker.dest)
      this.#syncReady()
    }
  }

  onProbeFailure (prober: EndpointProber, verdict: ProbeVerdict): void {
    const tracker = this.#trackers.get(prober.dest)
    if (this.#isClosed || tracker === undefined) return
    if (tracker.state === TRACKER_READY) {
      // Only a re-probe runs on a ready tracker: the endpoint went from ready to not ready
      // (#syncEndpoints) and no longer answers. Knative drops it from the healthy set the same way.
      tracker.state = TRACKER_PROBING
      this.#logger.info({ dest: tracker.dest }, 'endpoint became not ready and fails its probe: out of rotation')
      this.#syncReady()
    }
    this.#clusterIp?.onPodFailed(prober.dest, verdict)
  }

  /** The route switched between pods and the service, or the service's health changed. */
  onClusterIpChange (): void {
    if (this.#isClosed) return
    const viaService = this.#clusterIp !== null && this.#clusterIp.usesService
    for (const [dest, prober] of this.#probers) {
      if (viaService) prober.stop()
      else if (this.#trackers.get(dest)?.state !== TRACKER_READY) prober.start()
    }
    this.#syncReady()
  }

  markFailed (tracker: PodTracker, err: Error): void {
    if (this.#clusterIp !== null && this.#clusterIp.markFailed(tracker, err)) return
    if (tracker.state !== TRACKER_READY || this.#trackers.get(tracker.dest) !== tracker) return
    tracker.state = TRACKER_FAILED
    this.#logger.warn({ dest: tracker.dest, err }, 'endpoint failed: out of rotation until a probe succeeds')
    this.#syncReady()
    this.#probers.get(tracker.dest)?.start()
  }

  // --- lifecycle -----------------------------------------------------------------------------

  /** The revision was removed: buffered requests get 404, probing stops, pools close when idle. */
  close (): void {
    if (this.#isClosed) return
    this.#isClosed = true
    this.proxy.remove()
    for (const p of this.#probers.values()) p.stop()
    this.#probers.clear()
    for (const t of this.#trackers.values()) this.#retire(t)
    this.#trackers.clear()
    this.#clusterIp?.close()
    this.throttler.setClusterIp(null, 0)
    this.throttler.setReady([])
    this.#readyCount = 0
    this.#deps.reporter.unregister(this.proxy.concurrency)
    this.#logger.info('revision removed')
  }

  /**
   * Trackers for spec.endpoints and spec.notReadyEndpoints alike: both take traffic once our probe
   * passes (Knative trusts kubelet-ready pods without a probe unless mesh-compatibility-mode is
   * auto, its default and ours; probing them too costs one round trip and never sends to a pod that
   * does not answer). The difference: an endpoint that moves from ready to not ready is re-probed,
   * staying in rotation until a probe fails (Knative's becameNonReady), and the private service's
   * backends are the ready ones only (Knative sizes the ClusterIP by curDests.ready).
   */
  #syncEndpoints (spec: RevisionSpec): void {
    const ready = new Set(spec.endpoints)
    const notReady = new Set(spec.notReadyEndpoints ?? NO_ENDPOINTS)
    const wanted = new Set([...ready, ...notReady])
    const wasNotReady = this.#notReady
    this.#notReady = notReady
    let changed = false
    for (const [dest, tracker] of this.#trackers) {
      if (wanted.has(dest)) continue
      this.#probers.get(dest)?.stop()
      this.#probers.delete(dest)
      this.#trackers.delete(dest)
      if (tracker.state === TRACKER_READY) changed = true
      this.#retire(tracker)
    }
    const capacity = PodTracker.capacityFor(this.spec.containerConcurrency)
    const added: EndpointProber[] = []
    for (const dest of wanted) {
      if (this.#trackers.has(dest)) continue
      const createH2Pool = this.#deps.createH2Pool
      const tracker = new PodTracker(dest, this.#deps.createPool(dest), capacity, createH2Pool === null ? null : createH2Pool(dest))
      this.#trackers.set(dest, tracker)
      const prober = new EndpointProber(dest, this.#deps.probe, this, this.#deps.proberSchedule, this.#deps.proberTimers, this.#deps.proberClock)
      this.#probers.set(dest, prober)
      added.push(prober)
    }
    const route = this.#clusterIp
    const probesPods = route === null || !route.usesService
    for (const dest of notReady) {
      if (wasNotReady.has(dest) || !probesPods) continue
      const tracker = this.#trackers.get(dest)
      if (tracker?.state !== TRACKER_READY) continue
      this.#logger.info({ dest }, 'endpoint became not ready: re-probing')
      this.#probers.get(dest)?.start()
    }
    if (route !== null) {
      route.setEndpoints(ready, wanted)
      // The service's backends may have changed: its capacity follows them.
      changed = true
    }
    if (changed) this.#syncReady()
    // Start after the maps are complete: a probe result can only arrive asynchronously anyway.
    // Through the service (mesh) pods are not probed: Knative skips them too.
    if (probesPods) for (const p of added) p.start()
  }

  /** Creates, updates or drops the private-service route as spec.clusterIp says. */
  #updateClusterIp (spec: RevisionSpec): void {
    const wanted = spec.clusterIp ?? null
    const route = this.#clusterIp
    if (wanted === null) {
      if (route === null) return
      route.close()
      this.#clusterIp = null
      this.onClusterIpChange()
      return
    }
    if (route !== null) {
      route.update(wanted)
      return
    }
    const d = this.#deps
    const service = d.serviceDial ?? null
    this.#clusterIp = new ClusterIpRoute(wanted, {
      probe: service === null ? d.probe : service.probe,
      proberSchedule: d.proberSchedule,
      proberTimers: d.proberTimers,
      proberClock: d.proberClock,
      createPool: service === null ? d.createPool : service.createPool,
      createH2Pool: service === null ? d.createH2Pool : service.createH2Pool,
      logger: d.logger,
    }, this)
    this.onClusterIpChange()
  }

  #retire (tracker: PodTracker): void {
    tracker.state = TRACKER_REMOVED
    // close() lets requests in flight finish, then closes the sockets.
    tracker.pool.close().catch((err: unknown) => { this.#logger.debug({ err, dest: tracker.dest }, 'closing endpoint pool failed') })
    tracker.h2Pool?.close().catch((err: unknown) => { this.#logger.debug({ err, dest: tracker.dest }, 'closing endpoint h2c session failed') })
  }

  #syncReady (): void {
    const ready: PodTracker[] = []
    const route = this.#clusterIp
    let service: PodTracker | null = null
    let count: number
    if (route !== null && route.usesService) {
      // Through the service: ready = the pods behind it, once the service answered its probe.
      service = route.activeTracker
      count = service === null ? 0 : route.backends
    } else {
      for (const t of this.#trackers.values()) if (t.state === TRACKER_READY) ready.push(t)
      count = ready.length
    }
    const before = this.#readyCount
    this.#readyCount = count
    this.proxy.onReadyCountChange(before, count)
    this.throttler.setReady(ready)
    if (service !== null || this.throttler.clusterIp !== null) this.throttler.setClusterIp(service, count)
    this.proxy.unpark()
  }
}
