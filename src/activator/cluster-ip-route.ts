import type { Clock } from '../shared/clock.ts'
import type { Timers } from '../shared/timers.ts'
import type { Logger } from '../shared/logger.ts'
import { EndpointProber, type ProberListener, type ProberSchedule } from './endpoint-prober.ts'
import { PodTracker, TRACKER_FAILED, TRACKER_PROBING, TRACKER_READY, TRACKER_REMOVED, type EndpointPool } from './pod-tracker.ts'
import { PROBE_FAILED_NOT_MESH, type EndpointProbe, type ProbeVerdict } from '../proxy/endpoint-probe.ts'
import type { ClusterIpSpec } from './revision-spec.ts'

// A revision's private ClusterIP service as a destination (knative.dev/networking
// mesh-compatibility-mode; Knative's revisionWatcher.checkDests + getDest, revision_backends.go).
// With a service mesh, a pod's IP may only be reachable through the mesh's sidecars, which refuse
// (or 502/503) direct connections; the ClusterIP is the address the mesh routes.
//
// - enabled: never probe pods; probe the service (`dest`) and, once it answers, send everything
//   there. Knative: `rw.meshMode != Enabled` guards pod probing, then getDest + probeClusterIP.
// - auto: probe the pods as usual. When every current pod has failed at least once, none is ready,
//   and no pod's latest failure was an answer a mesh would not give (anything but 502/503, or a
//   wrong body: Knative's notMesh), probe the service; if it answers while that still holds, the
//   pods are not addressable: from then on (sticky, Knative's podsAddressable = false) the revision
//   goes through the service and its pods are no longer probed.
//
// Through the service there is one tracker, with no limit of its own; the throttler sizes the
// revision by the ready pods behind it (Throttler.setClusterIp). With no ready pod the service is
// "not healthy" again (Knative resets clusterIPHealthy on scale to zero) and is re-probed when pods
// return, so the first request after a scale-up does not reach a service with nothing behind it.

export interface ClusterIpRouteDeps {
  readonly probe: EndpointProbe
  readonly proberSchedule: ProberSchedule
  readonly proberTimers: Timers
  /** Times the gaps between attempts; goes with proberTimers (a ManualTimers' clock in tests). */
  readonly proberClock: Clock
  readonly createPool: (dest: string) => EndpointPool
  readonly createH2Pool: ((dest: string) => EndpointPool) | null
  readonly logger: Logger
}

/** What the route tells its revision. */
export interface ClusterIpRouteListener {
  /** usesService or the service tracker's readiness changed: re-sync the throttler (and the pod probers). */
  onClusterIpChange (): void
}

export class ClusterIpRoute implements ProberListener {
  #mode: ClusterIpSpec['mode']
  #dest: string | null
  #tracker: PodTracker | null = null
  #prober: EndpointProber | null = null
  /** Knative's podsAddressable: false once auto found the pods unreachable and the service reachable. */
  #podsAddressable = true
  /** The revision's ready pods (source's endpoints), the service's backends. */
  #endpoints: ReadonlySet<string> = new Set()
  /** auto: each current pod's latest failed probe; a pod with none has not failed yet (or is ready). */
  readonly #podVerdicts = new Map<string, ProbeVerdict>()
  readonly #readyPods = new Set<string>()
  readonly #deps: ClusterIpRouteDeps
  readonly #listener: ClusterIpRouteListener
  readonly #logger: Logger

  constructor (spec: ClusterIpSpec, deps: ClusterIpRouteDeps, listener: ClusterIpRouteListener) {
    this.#mode = spec.mode
    this.#dest = spec.dest
    this.#deps = deps
    this.#listener = listener
    this.#logger = deps.logger
    this.#replaceTracker()
  }

  get mode (): ClusterIpSpec['mode'] { return this.#mode }
  get dest (): string | null { return this.#dest }
  /** Requests go (or will go, once it answers) to the service, and pods are not probed. */
  get usesService (): boolean { return this.#mode === 'enabled' || !this.#podsAddressable }
  /** The service tracker when traffic goes there now: in use, answered its probe, pods behind it. */
  get activeTracker (): PodTracker | null {
    const t = this.#tracker
    return this.usesService && t !== null && t.state === TRACKER_READY && this.#endpoints.size > 0 ? t : null
  }

  get backends (): number { return this.#endpoints.size }
  /** The service's tracker (a test hook and for markFailed); null without a dest. */
  get tracker (): PodTracker | null { return this.#tracker }

  /** A new spec for the same revision (mode or service may change). */
  update (spec: ClusterIpSpec): void {
    const modeChanged = spec.mode !== this.#mode
    const destChanged = spec.dest !== this.#dest
    if (!modeChanged && !destChanged) return
    const before = this.usesService
    this.#mode = spec.mode
    if (modeChanged && spec.mode === 'enabled') this.#podsAddressable = true
    if (destChanged) {
      this.#dest = spec.dest
      this.#replaceTracker()
    }
    this.#logger.info({ mode: spec.mode, clusterIp: spec.dest }, 'cluster IP route updated')
    this.#maybeProbeService()
    if (before !== this.usesService || destChanged) this.#listener.onClusterIpChange()
  }

  /**
   * The revision's ready pods changed (the service's backends). `probed`: every pod the revision
   * probes, not-ready ones included (spec.notReadyEndpoints); one of them answering directly is
   * proof enough that pods are addressable (Knative: any healthy pod keeps direct routing).
   */
  setEndpoints (endpoints: ReadonlySet<string>, probed: ReadonlySet<string> = endpoints): void {
    this.#endpoints = endpoints
    for (const dest of this.#podVerdicts.keys()) if (!endpoints.has(dest)) this.#podVerdicts.delete(dest)
    for (const dest of this.#readyPods) if (!probed.has(dest)) this.#readyPods.delete(dest)
    const t = this.#tracker
    if (endpoints.size === 0 && t !== null && t.state !== TRACKER_PROBING) {
      // Scaled to zero: the service is healthy again only after a probe with pods behind it.
      this.#prober?.stop()
      t.state = TRACKER_PROBING
    }
    this.#maybeProbeService()
  }

  // --- pod probe results (auto) -------------------------------------------------------------

  onPodReady (dest: string): void {
    this.#readyPods.add(dest)
    this.#podVerdicts.delete(dest)
  }

  onPodFailed (dest: string, verdict: ProbeVerdict): void {
    this.#readyPods.delete(dest)
    if (!this.#endpoints.has(dest)) return
    this.#podVerdicts.set(dest, verdict)
    this.#maybeProbeService()
  }

  // --- the service's own prober -----------------------------------------------------------

  onProbeSuccess (prober: EndpointProber): void {
    const t = this.#tracker
    if (t === null || prober !== this.#prober || t.state === TRACKER_REMOVED) return
    if (this.#endpoints.size === 0) { t.state = TRACKER_PROBING; return }
    if (this.#mode === 'auto' && this.#podsAddressable) {
      if (!this.#podsLookMeshed()) { t.state = TRACKER_PROBING; return }
      this.#podsAddressable = false
      this.#logger.warn({ clusterIp: this.#dest, pods: this.#endpoints.size }, 'pods are not reachable directly (mesh?) but the private service is: sending through the cluster IP from now on')
    }
    t.state = TRACKER_READY
    this.#logger.info({ clusterIp: this.#dest, backends: this.#endpoints.size }, 'cluster IP ready')
    this.#listener.onClusterIpChange()
  }

  /** A request could not connect to the service: out of rotation until a probe succeeds. */
  markFailed (tracker: PodTracker, err: Error): boolean {
    if (tracker !== this.#tracker) return false
    if (tracker.state !== TRACKER_READY) return true
    tracker.state = TRACKER_FAILED
    this.#logger.warn({ clusterIp: tracker.dest, err }, 'cluster IP failed: out of rotation until a probe succeeds')
    this.#listener.onClusterIpChange()
    this.#prober?.start()
    return true
  }

  close (): void {
    this.#retireTracker()
  }

  // -----------------------------------------------------------------------------------------

  /** auto's fallback condition: every pod failed, none ready, none answered as no mesh would. */
  #podsLookMeshed (): boolean {
    if (this.#endpoints.size === 0 || this.#readyPods.size > 0) return false
    for (const dest of this.#endpoints) {
      const verdict = this.#podVerdicts.get(dest)
      if (verdict === undefined || verdict === PROBE_FAILED_NOT_MESH) return false
    }
    return true
  }

  /** Starts the service's prober when it should run and is not running. */
  #maybeProbeService (): void {
    const t = this.#tracker
    const prober = this.#prober
    if (t === null || prober === null || t.state === TRACKER_READY || prober.isRunning || this.#endpoints.size === 0) return
    if (this.usesService || this.#podsLookMeshed()) prober.start()
  }

  #replaceTracker (): void {
    this.#retireTracker()
    const dest = this.#dest
    if (dest === null) return
    const createH2Pool = this.#deps.createH2Pool
    this.#tracker = new PodTracker(dest, this.#deps.createPool(dest), Number.POSITIVE_INFINITY, createH2Pool === null ? null : createH2Pool(dest))
    this.#prober = new EndpointProber(dest, this.#deps.probe, this, this.#deps.proberSchedule, this.#deps.proberTimers, this.#deps.proberClock)
  }

  #retireTracker (): void {
    this.#prober?.stop()
    this.#prober = null
    const t = this.#tracker
    this.#tracker = null
    if (t === null) return
    t.state = TRACKER_REMOVED
    t.pool.close().catch((err: unknown) => { this.#logger.debug({ err, dest: t.dest }, 'closing cluster IP pool failed') })
    t.h2Pool?.close().catch((err: unknown) => { this.#logger.debug({ err, dest: t.dest }, 'closing cluster IP h2c session failed') })
  }
}
