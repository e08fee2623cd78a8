// `--source kubernetes`: revisions and their endpoints from the cluster, as Knative's activator sees them.
//
// Two list+watch loops (kube-list-watch.ts), three with `podIp`:
// - discovery.k8s.io/v1 EndpointSlices of Knative private services (label selector, overridable). The
//   EndpointSlice controller copies the Service's labels, so `serving.knative.dev/revision` names the
//   revision. Endpoints = ready addresses x the port named `http` (or `http2`), i.e. the pods' queue-proxy
//   ports. A revision's endpoints are the union over its slices (a service may have several).
//   Not-ready, not-terminating addresses go out as notReadyEndpoints when the Revision allows Knative's
//   probe optimisation (no exec readiness probe, no startup probe): the activator probes those pods
//   itself and sends to one as soon as its queue-proxy answers, without waiting for kubelet's ready
//   (revision_backends.go; a cold start saves up to one readiness period).
// - serving.knative.dev/v1 Revisions, for spec.containerConcurrency and its timeouts (timeoutSeconds,
//   responseStartTimeoutSeconds, idleTimeoutSeconds, as Knative's activator applies them). A revision
//   is known while its Revision object exists, with the endpoints its slices list (none when scaled to
//   zero). Emitting only once the Revision is known means a revision is never briefly served with the
//   wrong (unlimited) concurrency because the slice event won the race.
//   With `watchRevisions: false` (plain Kubernetes without Knative's CRDs) a revision is known while it
//   has slices, with `defaultContainerConcurrency` and the activator's default timeout.
// - With `podIp` (the activator's POD_IP): EndpointSlices of the revisions' *public* services, which
//   list the activators in front of a revision when Knative puts the activator in its path (SKS proxy
//   mode). As Knative's activator (throttler.go handlePubEpsUpdate/inferIndex): the revision's slot is
//   podIp's index in the sorted union of the ready addresses of its public slices, count = the union's
//   size (infer-activator-slot.ts), emitted as RevisionSpec.activators; the throttler then takes that
//   slice of the pods (activator-slice.ts). podIp absent from the union (serve mode: the public
//   endpoints are the pods; or not yet listed) keeps the revision's previous slot; until it has one,
//   the activator's own (--activator-count / --activator-index). A slot is forgotten with the revision.
//
// - With `meshMode` enabled or auto (knative.dev/networking mesh-compatibility-mode, config-network): the
//   revisions' private Services (same labels as their slices), whose `clusterIP:port` (port `http`, or
//   `http2`) is emitted as RevisionSpec.clusterIp with the mode, for the activator to send through the
//   service instead of the pods (cluster-ip-route.ts). The Service Knative reads is `<revision>-private`;
//   that one is preferred if several carry the labels. Disabled (the default here; the CLI passes the
//   config's, whose default is auto as Knative's): Services are not watched, specs have no clusterIp.
//
// Hosts and lbPolicy are not set: Knative routes to the activator with the Knative-Serving-* headers, and
// the policy follows containerConcurrency. start() resolves after every loop's first list, so the activator
// starts with the whole picture; it rejects with RevisionSourceError when a list fails (the pod restarts,
// as with any failed start). After start, errors only log, and the loops relist with backoff.

import { RevisionSourceError } from '../../shared/errors.ts'
import type { Logger } from '../../shared/logger.ts'
import type { MeshCompatibilityMode } from '../../config/network-configmap.ts'
import { revisionKey, type ClusterIpSpec, type RevisionSink, type RevisionSource, type RevisionSpec } from '../revision-spec.ts'
import type { ActivatorSlot } from '../activator-slice.ts'
import { EmittedRevisions } from './emitted-revisions.ts'
import { inferActivatorSlot } from './infer-activator-slot.ts'
import { KubeApiClient } from '../../kube/kube-api-client.ts'
import { kubeConfigForServer, type KubeRestConfig } from '../../kube/kube-config.ts'
import { KubeListError, ListWatchLoop, type BackoffOptions, type WatchEventType } from '../../kube/kube-list-watch.ts'
import {
  KNATIVE_PORT_NAMES, KNATIVE_PRIVATE_SELECTOR, KNATIVE_PUBLIC_SELECTOR, KNATIVE_REVISION_LABEL,
  objectRef, parseEndpointSlice, parseKnativeRevision, parsePrivateService, parsePublicEndpointSlice,
  type EndpointSliceInfo, type KnativeRevisionInfo, type PrivateServiceInfo, type PublicSliceInfo,
} from './kube-objects.ts'
import { SliceIndex } from './slice-index.ts'

export const ENDPOINT_SLICES = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices' }
export const KNATIVE_REVISIONS = { group: 'serving.knative.dev', version: 'v1', plural: 'revisions' }
export const SERVICES = { group: '', version: 'v1', plural: 'services' }
/** Objects of each kind we track; beyond this new ones are ignored (and logged), never unbounded. */
export const MAX_TRACKED_OBJECTS = 100_000

export interface KubernetesSourceOptions {
  /** A resolved config (kube-config.ts loadKubeConfig), or an API server URL without credentials (kubectl proxy, tests). */
  readonly kubeConfig: KubeRestConfig | string
  /** Sent as User-Agent, e.g. sluice-activator/1.2.3. */
  readonly userAgent?: string
  /** The environment a kubeconfig exec plugin inherits. */
  readonly execEnv?: Readonly<Record<string, string | undefined>>
  readonly logger: Logger
  /** Only this namespace; null (default) = all namespaces. */
  readonly namespace?: string | null
  /** EndpointSlice label selector; default: Knative private services. */
  readonly labelSelector?: string
  /** This activator's IP (POD_IP); '' or absent = public services are not watched, every revision keeps the activator's own slot. */
  readonly podIp?: string
  /** Label selector of the public services' EndpointSlices (with podIp); default: Knative public services. */
  readonly publicLabelSelector?: string
  /** Slice label naming the revision. */
  readonly revisionLabel?: string
  /** Port names to use, in order of preference. */
  readonly portNames?: readonly string[]
  /** Watch Knative Revision objects (default true); see the file comment for false. */
  readonly watchRevisions?: boolean
  /** containerConcurrency when no Revision object says (watchRevisions false, or absent in the spec). */
  readonly defaultContainerConcurrency?: number
  /** mesh-compatibility-mode: enabled/auto watch the private Services and emit clusterIp; default disabled. */
  readonly meshMode?: MeshCompatibilityMode
  readonly backoff?: BackoffOptions
  readonly watchTimeoutSeconds?: number
  readonly pageSize?: number
  readonly random?: () => number
}

/** Counters for logs and tests. */
export interface KubernetesSourceStats {
  readonly sliceLists: number
  readonly sliceWatches: number
  readonly revisionLists: number
  readonly revisionWatches: number
  readonly publicSliceLists: number
  readonly publicSliceWatches: number
  readonly serviceLists: number
  readonly serviceWatches: number
  readonly slices: number
  readonly publicSlices: number
  readonly revisions: number
}

export class KubernetesSource implements RevisionSource {
  readonly #logger: Logger
  readonly #revisionLabel: string
  readonly #portNames: readonly string[]
  readonly #watchRevisions: boolean
  readonly #defaultCC: number
  readonly #podIp: string
  readonly #client: KubeApiClient
  readonly #sliceLoop: ListWatchLoop
  readonly #revisionLoop: ListWatchLoop | null
  readonly #publicLoop: ListWatchLoop | null
  readonly #serviceLoop: ListWatchLoop | null
  readonly #meshMode: MeshCompatibilityMode
  /** Private Services (meshMode enabled or auto), by revision. */
  readonly #services: SliceIndex<PrivateServiceInfo>
  /** Private services' slices. */
  readonly #slices: SliceIndex<EndpointSliceInfo>
  /** Public services' slices (with podIp). */
  readonly #publicSlices: SliceIndex<PublicSliceInfo>
  /** revisionKey -> Revision object. */
  readonly #revisions = new Map<string, KnativeRevisionInfo>()
  /**
   * revisionKey -> the last slot inferred from its public slices. Kept while the revision is known or
   * has public slices (#reconcile forgets it), so it is bounded by those maps.
   */
  readonly #slots = new Map<string, ActivatorSlot>()
  #emitted: EmittedRevisions | null = null
  /** False until both initial lists are in: events before that only update the maps. */
  #synced = false
  #closed = false
  #overflowLogged = false

  constructor (opts: KubernetesSourceOptions) {
    const kubeConfig = typeof opts.kubeConfig === 'string' ? kubeConfigForServer(opts.kubeConfig) : opts.kubeConfig
    this.#logger = opts.logger.child({ component: 'kubernetes-source' })
    // One client for every loop: one token source, one exec plugin, one pool of keep-alive sockets.
    this.#client = new KubeApiClient({ config: kubeConfig, logger: this.#logger, userAgent: opts.userAgent, execEnv: opts.execEnv })
    this.#revisionLabel = opts.revisionLabel ?? KNATIVE_REVISION_LABEL
    this.#portNames = opts.portNames ?? KNATIVE_PORT_NAMES
    this.#watchRevisions = opts.watchRevisions ?? true
    this.#defaultCC = opts.defaultContainerConcurrency ?? 0
    this.#podIp = opts.podIp ?? ''
    this.#slices = new SliceIndex(MAX_TRACKED_OBJECTS, () => { this.#logOverflow('endpointslices') })
    this.#publicSlices = new SliceIndex(MAX_TRACKED_OBJECTS, () => { this.#logOverflow('public endpointslices') })
    this.#meshMode = opts.meshMode ?? 'disabled'
    this.#services = new SliceIndex(MAX_TRACKED_OBJECTS, () => { this.#logOverflow('services') })
    const common = {
      client: this.#client,
      namespace: opts.namespace ?? null,
      logger: this.#logger,
      backoff: opts.backoff,
      watchTimeoutSeconds: opts.watchTimeoutSeconds,
      pageSize: opts.pageSize,
      random: opts.random,
    }
    this.#sliceLoop = new ListWatchLoop({
      ...common,
      resource: ENDPOINT_SLICES,
      labelSelector: opts.labelSelector ?? KNATIVE_PRIVATE_SELECTOR,
      handler: {
        onList: (items) => { this.#onSliceList(items) },
        onEvent: (type, object) => { this.#onSliceEvent(type, object) },
      },
    })
    this.#revisionLoop = !this.#watchRevisions
      ? null
      : new ListWatchLoop({
        ...common,
        resource: KNATIVE_REVISIONS,
        labelSelector: '',
        handler: {
          onList: (items) => { this.#onRevisionList(items) },
          onEvent: (type, object) => { this.#onRevisionEvent(type, object) },
        },
      })
    this.#publicLoop = this.#podIp === ''
      ? null
      : new ListWatchLoop({
        ...common,
        resource: ENDPOINT_SLICES,
        labelSelector: opts.publicLabelSelector ?? KNATIVE_PUBLIC_SELECTOR,
        handler: {
          onList: (items) => { this.#onPublicSliceList(items) },
          onEvent: (type, object) => { this.#onPublicSliceEvent(type, object) },
        },
      })
    this.#serviceLoop = this.#meshMode === 'disabled'
      ? null
      : new ListWatchLoop({
        ...common,
        resource: SERVICES,
        labelSelector: opts.labelSelector ?? KNATIVE_PRIVATE_SELECTOR,
        handler: {
          onList: (items) => { this.#reconcile(this.#services.replaceAll(items, this.#parseService)) },
          onEvent: (type, object) => {
            const ref = objectRef(object)
            if (ref !== null) this.#reconcile(this.#services.apply(type === 'DELETED', `${ref.namespace}/${ref.name}`, object, this.#parseService))
          },
        },
      })
  }

  async start (sink: RevisionSink): Promise<void> {
    if (this.#emitted !== null || this.#closed) throw new Error('KubernetesSource: start() called twice or after close()')
    this.#emitted = new EmittedRevisions(sink, this.#logger)
    const loops = this.#loops()
    try {
      await Promise.all(loops.map((loop) => loop.list()))
    } catch (err) {
      await this.close()
      throw new RevisionSourceError(`kubernetes: ${startFailureMessage(err)}`, { cause: err })
    }
    this.#synced = true
    const { upserted } = this.#emitted.sync(this.#desiredAll())
    this.#logger.info({ revisions: upserted, slices: this.#slices.size }, 'kubernetes source synced')
    for (const loop of loops) loop.watchInBackground()
  }

  async close (): Promise<void> {
    this.#closed = true
    await Promise.all(this.#loops().map((loop) => loop.close()))
    this.#client.close()
  }

  stats (): KubernetesSourceStats {
    return {
      sliceLists: this.#sliceLoop.listCount,
      sliceWatches: this.#sliceLoop.watchCount,
      revisionLists: this.#revisionLoop?.listCount ?? 0,
      revisionWatches: this.#revisionLoop?.watchCount ?? 0,
      publicSliceLists: this.#publicLoop?.listCount ?? 0,
      publicSliceWatches: this.#publicLoop?.watchCount ?? 0,
      serviceLists: this.#serviceLoop?.listCount ?? 0,
      serviceWatches: this.#serviceLoop?.watchCount ?? 0,
      slices: this.#slices.size,
      publicSlices: this.#publicSlices.size,
      revisions: this.#revisions.size,
    }
  }

  #loops (): ListWatchLoop[] {
    const loops = [this.#sliceLoop]
    if (this.#revisionLoop !== null) loops.push(this.#revisionLoop)
    if (this.#publicLoop !== null) loops.push(this.#publicLoop)
    if (this.#serviceLoop !== null) loops.push(this.#serviceLoop)
    return loops
  }

  readonly #parsePrivate = (item: unknown): EndpointSliceInfo | null => parseEndpointSlice(item, this.#revisionLabel, this.#portNames)
  readonly #parsePublic = (item: unknown): PublicSliceInfo | null => parsePublicEndpointSlice(item, this.#revisionLabel, this.#portNames)
  readonly #parseService = (item: unknown): PrivateServiceInfo | null => parsePrivateService(item, this.#revisionLabel, this.#portNames)

  #onSliceList (items: readonly unknown[]): void {
    this.#reconcile(this.#slices.replaceAll(items, this.#parsePrivate))
  }

  #onSliceEvent (type: WatchEventType, object: unknown): void {
    const ref = objectRef(object)
    if (ref === null) return
    this.#reconcile(this.#slices.apply(type === 'DELETED', `${ref.namespace}/${ref.name}`, object, this.#parsePrivate))
  }

  #onPublicSliceList (items: readonly unknown[]): void {
    const affected = this.#publicSlices.replaceAll(items, this.#parsePublic)
    for (const key of affected) this.#inferSlot(key)
    this.#reconcile(affected)
  }

  #onPublicSliceEvent (type: WatchEventType, object: unknown): void {
    const ref = objectRef(object)
    if (ref === null) return
    const affected = this.#publicSlices.apply(type === 'DELETED', `${ref.namespace}/${ref.name}`, object, this.#parsePublic)
    for (const key of affected) this.#inferSlot(key)
    this.#reconcile(affected)
  }

  /** Updates the revision's slot from its public slices; unchanged when podIp is not among them. */
  #inferSlot (revKey: string): void {
    const addresses: string[] = []
    for (const slice of this.#publicSlices.slicesOf(revKey)) for (const a of slice.addresses) addresses.push(a)
    const slot = inferActivatorSlot(addresses, this.#podIp)
    if (slot === null) return
    const before = this.#slots.get(revKey)
    if (before !== undefined && before.index === slot.index && before.count === slot.count) return
    this.#slots.set(revKey, slot)
    this.#logger.info({ revision: revKey, activatorIndex: slot.index, activatorCount: slot.count, was: before ?? null }, 'activator slot for revision')
  }

  #onRevisionList (items: readonly unknown[]): void {
    const affected = new Set<string>(this.#revisions.keys())
    this.#revisions.clear()
    for (const item of items) {
      const revision = parseKnativeRevision(item)
      if (revision !== null) this.#addRevision(revision)
    }
    for (const key of this.#revisions.keys()) affected.add(key)
    this.#reconcile(affected)
  }

  #onRevisionEvent (type: WatchEventType, object: unknown): void {
    const ref = objectRef(object)
    if (ref === null) return
    const key = revisionKey(ref.namespace, ref.name)
    this.#revisions.delete(key)
    if (type !== 'DELETED') {
      const revision = parseKnativeRevision(object)
      if (revision !== null) this.#addRevision(revision)
    }
    this.#reconcile([key])
  }

  #addRevision (revision: KnativeRevisionInfo): void {
    if (this.#revisions.size >= MAX_TRACKED_OBJECTS) {
      this.#logOverflow('revisions')
      return
    }
    this.#revisions.set(revisionKey(revision.namespace, revision.name), revision)
  }

  #reconcile (keys: Iterable<string>): void {
    const emitted = this.#emitted
    if (!this.#synced || this.#closed || emitted === null) return
    for (const key of keys) {
      const spec = this.#desired(key)
      if (spec !== null) {
        emitted.put(spec)
        continue
      }
      emitted.dropKey(key)
      if (!this.#publicSlices.hasRevision(key)) this.#slots.delete(key)
    }
  }

  #desiredAll (): Map<string, RevisionSpec> {
    const out = new Map<string, RevisionSpec>()
    const keys = new Set<string>([...this.#revisions.keys(), ...this.#slices.revisionKeys()])
    for (const key of keys) {
      const spec = this.#desired(key)
      if (spec !== null) out.set(key, spec)
    }
    return out
  }

  /** What the sink should hold for one revision, or null when it should not know it. */
  #desired (key: string): RevisionSpec | null {
    const revision = this.#revisions.get(key)
    let namespace: string
    let name: string
    if (revision !== undefined) {
      namespace = revision.namespace
      name = revision.name
    } else if (!this.#watchRevisions) {
      const first = this.#slices.slicesOf(key).next()
      if (first.done === true || first.value.revision === null) return null
      namespace = first.value.namespace
      name = first.value.revision
    } else {
      return null
    }

    const endpoints = new Set<string>()
    for (const slice of this.#slices.slicesOf(key)) for (const endpoint of slice.endpoints) endpoints.add(endpoint)
    // Knative's probe optimisation needs the Revision (exec/startup probes turn it off), so without
    // Revisions only kubelet's ready counts. A pod listed twice (moving between slices) counts as ready.
    const notReady: string[] = []
    if (revision !== undefined && revision.probeOptimisation) {
      for (const slice of this.#slices.slicesOf(key)) {
        for (const endpoint of slice.notReadyEndpoints) if (!endpoints.has(endpoint) && !notReady.includes(endpoint)) notReady.push(endpoint)
      }
    }
    return Object.freeze({
      namespace,
      name,
      containerConcurrency: revision?.containerConcurrency ?? this.#defaultCC,
      endpoints: Object.freeze([...endpoints].sort()),
      ...(notReady.length > 0 ? { notReadyEndpoints: Object.freeze(notReady.sort()) } : {}),
      hosts: Object.freeze([]),
      timeoutSeconds: revision?.timeoutSeconds ?? null,
      // Present only when the Revision sets them (Knative's webhook defaults both, so a real one does).
      ...(revision !== undefined && revision.responseStartTimeoutSeconds !== null ? { responseStartTimeoutSeconds: revision.responseStartTimeoutSeconds } : {}),
      ...(revision !== undefined && revision.idleTimeoutSeconds !== null ? { idleTimeoutSeconds: revision.idleTimeoutSeconds } : {}),
      lbPolicy: null,
      activators: this.#slots.get(key) ?? null,
      ...(this.#meshMode === 'disabled' ? {} : { clusterIp: this.#clusterIpOf(key, name) }),
    })
  }

  /** The revision's private service as a destination: `<name>-private` (Knative's names.PrivateService) first. */
  #clusterIpOf (key: string, name: string): ClusterIpSpec {
    const mode = this.#meshMode === 'enabled' ? 'enabled' : 'auto'
    let dest: string | null = null
    for (const service of this.#services.slicesOf(key)) {
      if (service.dest === null) continue
      if (service.name === `${name}-private`) { dest = service.dest; break }
      dest ??= service.dest
    }
    return Object.freeze({ mode, dest })
  }

  #logOverflow (kind: string): void {
    if (this.#overflowLogged) return
    this.#overflowLogged = true
    this.#logger.error({ kind, limit: MAX_TRACKED_OBJECTS }, 'too many kubernetes objects; ignoring new ones')
  }
}

function startFailureMessage (err: unknown): string {
  if (err instanceof KubeListError) {
    if (err.status === 404 && err.message.includes(KNATIVE_REVISIONS.plural)) {
      return `${err.message} (is Knative Serving installed? without it, turn off watching Revisions)`
    }
    if (err.status === 401 || err.status === 403) {
      return `${err.message} (the service account needs list and watch on endpointslices.discovery.k8s.io and revisions.serving.knative.dev, and on services unless mesh-compatibility-mode is disabled)`
    }
    return err.message
  }
  return err instanceof Error ? err.message : String(err)
}
