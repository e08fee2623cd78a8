// `--source kubernetes`: revisions and their endpoints from the cluster, as Knative's activator sees them.
//
// Two list+watch loops (kube-list-watch.ts):
// - discovery.k8s.io/v1 EndpointSlices of Knative private services (label selector, overridable). The
//   EndpointSlice controller copies the Service's labels, so `serving.knative.dev/revision` names the
//   revision. Endpoints = ready addresses x the port named `http` (or `http2`), i.e. the pods' queue-proxy
//   ports. A revision's endpoints are the union over its slices (a service may have several).
// - serving.knative.dev/v1 Revisions, for spec.containerConcurrency and spec.timeoutSeconds. A revision
//   is known while its Revision object exists, with the endpoints its slices list (none when scaled to
//   zero). Emitting only once the Revision is known means a revision is never briefly served with the
//   wrong (unlimited) concurrency because the slice event won the race.
//   With `watchRevisions: false` (plain Kubernetes without Knative's CRDs) a revision is known while it
//   has slices, with `defaultContainerConcurrency` and the activator's default timeout.
//
// Hosts and lbPolicy are not set: Knative routes to the activator with the Knative-Serving-* headers, and
// the policy follows containerConcurrency. start() resolves after both initial lists, so the activator
// starts with the whole picture; it rejects with RevisionSourceError when a list fails (the pod restarts,
// as with any failed start). After start, errors only log, and the loops relist with backoff.

import type { KubeConfig } from '@kubernetes/client-node'
import { RevisionSourceError } from '../../shared/errors.ts'
import type { Logger } from '../../shared/logger.ts'
import { revisionKey, type RevisionSink, type RevisionSource, type RevisionSpec } from '../revision-spec.ts'
import { EmittedRevisions } from './emitted-revisions.ts'
import { kubeConfigForServer } from './kube-config.ts'
import { KubeListError, ListWatchLoop, type BackoffOptions, type WatchEventType } from './kube-list-watch.ts'
import {
  KNATIVE_PORT_NAMES, KNATIVE_PRIVATE_SELECTOR, KNATIVE_REVISION_LABEL,
  objectRef, parseEndpointSlice, parseKnativeRevision,
  type EndpointSliceInfo, type KnativeRevisionInfo,
} from './kube-objects.ts'

export const ENDPOINT_SLICES = { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices' }
export const KNATIVE_REVISIONS = { group: 'serving.knative.dev', version: 'v1', plural: 'revisions' }
/** Objects of each kind we track; beyond this new ones are ignored (and logged), never unbounded. */
export const MAX_TRACKED_OBJECTS = 100_000

export interface KubernetesSourceOptions {
  /** A loaded KubeConfig (see kube-config.ts), or an API server URL without credentials (kubectl proxy, tests). */
  readonly kubeConfig: KubeConfig | string
  readonly logger: Logger
  /** Only this namespace; null (default) = all namespaces. */
  readonly namespace?: string | null
  /** EndpointSlice label selector; default: Knative private services. */
  readonly labelSelector?: string
  /** Slice label naming the revision. */
  readonly revisionLabel?: string
  /** Port names to use, in order of preference. */
  readonly portNames?: readonly string[]
  /** Watch Knative Revision objects (default true); see the file comment for false. */
  readonly watchRevisions?: boolean
  /** containerConcurrency when no Revision object says (watchRevisions false, or absent in the spec). */
  readonly defaultContainerConcurrency?: number
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
  readonly slices: number
  readonly revisions: number
}

export class KubernetesSource implements RevisionSource {
  readonly #logger: Logger
  readonly #revisionLabel: string
  readonly #portNames: readonly string[]
  readonly #watchRevisions: boolean
  readonly #defaultCC: number
  readonly #sliceLoop: ListWatchLoop
  readonly #revisionLoop: ListWatchLoop | null
  /** `namespace/sliceName` -> slice. */
  readonly #slices = new Map<string, EndpointSliceInfo>()
  /** revisionKey -> keys of its slices. */
  readonly #slicesByRevision = new Map<string, Set<string>>()
  /** revisionKey -> Revision object. */
  readonly #revisions = new Map<string, KnativeRevisionInfo>()
  #emitted: EmittedRevisions | null = null
  /** False until both initial lists are in: events before that only update the maps. */
  #synced = false
  #closed = false
  #overflowLogged = false

  constructor (opts: KubernetesSourceOptions) {
    const kubeConfig = typeof opts.kubeConfig === 'string' ? kubeConfigForServer(opts.kubeConfig) : opts.kubeConfig
    this.#logger = opts.logger.child({ component: 'kubernetes-source' })
    this.#revisionLabel = opts.revisionLabel ?? KNATIVE_REVISION_LABEL
    this.#portNames = opts.portNames ?? KNATIVE_PORT_NAMES
    this.#watchRevisions = opts.watchRevisions ?? true
    this.#defaultCC = opts.defaultContainerConcurrency ?? 0
    const common = {
      kubeConfig,
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
  }

  stats (): KubernetesSourceStats {
    return {
      sliceLists: this.#sliceLoop.listCount,
      sliceWatches: this.#sliceLoop.watchCount,
      revisionLists: this.#revisionLoop?.listCount ?? 0,
      revisionWatches: this.#revisionLoop?.watchCount ?? 0,
      slices: this.#slices.size,
      revisions: this.#revisions.size,
    }
  }

  #loops (): ListWatchLoop[] {
    return this.#revisionLoop === null ? [this.#sliceLoop] : [this.#sliceLoop, this.#revisionLoop]
  }

  #onSliceList (items: readonly unknown[]): void {
    const affected = new Set<string>(this.#slicesByRevision.keys())
    this.#slices.clear()
    this.#slicesByRevision.clear()
    for (const item of items) {
      const slice = parseEndpointSlice(item, this.#revisionLabel, this.#portNames)
      if (slice !== null) this.#addSlice(slice)
    }
    for (const key of this.#slicesByRevision.keys()) affected.add(key)
    this.#reconcile(affected)
  }

  #onSliceEvent (type: WatchEventType, object: unknown): void {
    const ref = objectRef(object)
    if (ref === null) return
    const sliceKey = `${ref.namespace}/${ref.name}`
    const affected = new Set<string>()
    const old = this.#slices.get(sliceKey)
    if (old !== undefined) {
      const revKey = this.#removeSlice(sliceKey, old)
      if (revKey !== null) affected.add(revKey)
    }
    if (type !== 'DELETED') {
      const slice = parseEndpointSlice(object, this.#revisionLabel, this.#portNames)
      if (slice !== null) {
        const revKey = this.#addSlice(slice)
        if (revKey !== null) affected.add(revKey)
      }
    }
    this.#reconcile(affected)
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

  /** Indexes the slice; returns its revision key, or null when it names no revision (or no room). */
  #addSlice (slice: EndpointSliceInfo): string | null {
    if (slice.revision === null) return null
    if (this.#slices.size >= MAX_TRACKED_OBJECTS) {
      this.#logOverflow('endpointslices')
      return null
    }
    const sliceKey = `${slice.namespace}/${slice.name}`
    const revKey = revisionKey(slice.namespace, slice.revision)
    this.#slices.set(sliceKey, slice)
    let keys = this.#slicesByRevision.get(revKey)
    if (keys === undefined) {
      keys = new Set()
      this.#slicesByRevision.set(revKey, keys)
    }
    keys.add(sliceKey)
    return revKey
  }

  #removeSlice (sliceKey: string, slice: EndpointSliceInfo): string | null {
    this.#slices.delete(sliceKey)
    if (slice.revision === null) return null
    const revKey = revisionKey(slice.namespace, slice.revision)
    const keys = this.#slicesByRevision.get(revKey)
    if (keys !== undefined) {
      keys.delete(sliceKey)
      if (keys.size === 0) this.#slicesByRevision.delete(revKey)
    }
    return revKey
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
      if (spec === null) emitted.dropKey(key)
      else emitted.put(spec)
    }
  }

  #desiredAll (): Map<string, RevisionSpec> {
    const out = new Map<string, RevisionSpec>()
    const keys = new Set<string>([...this.#revisions.keys(), ...this.#slicesByRevision.keys()])
    for (const key of keys) {
      const spec = this.#desired(key)
      if (spec !== null) out.set(key, spec)
    }
    return out
  }

  /** What the sink should hold for one revision, or null when it should not know it. */
  #desired (key: string): RevisionSpec | null {
    const revision = this.#revisions.get(key)
    const sliceKeys = this.#slicesByRevision.get(key)
    let namespace: string
    let name: string
    if (revision !== undefined) {
      namespace = revision.namespace
      name = revision.name
    } else if (!this.#watchRevisions && sliceKeys !== undefined) {
      const first = this.#firstSlice(sliceKeys)
      if (first === null || first.revision === null) return null
      namespace = first.namespace
      name = first.revision
    } else {
      return null
    }

    const endpoints = new Set<string>()
    if (sliceKeys !== undefined) {
      for (const sliceKey of sliceKeys) {
        const slice = this.#slices.get(sliceKey)
        if (slice !== undefined) for (const endpoint of slice.endpoints) endpoints.add(endpoint)
      }
    }
    return Object.freeze({
      namespace,
      name,
      containerConcurrency: revision?.containerConcurrency ?? this.#defaultCC,
      endpoints: Object.freeze([...endpoints].sort()),
      hosts: Object.freeze([]),
      timeoutSeconds: revision?.timeoutSeconds ?? null,
      lbPolicy: null,
    })
  }

  #firstSlice (sliceKeys: ReadonlySet<string>): EndpointSliceInfo | null {
    for (const sliceKey of sliceKeys) {
      const slice = this.#slices.get(sliceKey)
      if (slice !== undefined) return slice
    }
    return null
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
      return `${err.message} (the service account needs list and watch on endpointslices.discovery.k8s.io and revisions.serving.knative.dev)`
    }
    return err.message
  }
  return err instanceof Error ? err.message : String(err)
}
