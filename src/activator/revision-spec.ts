// What the activator knows about one revision, whichever source it came from (static file,
// admin API, Kubernetes EndpointSlices). Sources validate into this shape; the activator's
// registry consumes it through RevisionSink.

import type { ActivatorSlot } from './activator-slice.ts'

export type LbPolicyName = 'random-choice-2' | 'first-available' | 'round-robin'

/**
 * A revision reachable through its private ClusterIP service as well as through its pods
 * (knative.dev/networking mesh-compatibility-mode, cluster-ip-route.ts): `enabled` always sends to
 * the service, `auto` only once direct pod probes fail the way a mesh makes them fail and the service
 * answers. `dest` is the service's `clusterIP:port` (its `http` or `http2` port); null while the
 * Service is not known (enabled: no traffic until it is; auto: pods only).
 */
export interface ClusterIpSpec {
  readonly mode: 'enabled' | 'auto'
  readonly dest: string | null
}

export interface RevisionSpec {
  readonly namespace: string
  readonly name: string
  /** Per-pod concurrency limit; 0 = unlimited. */
  readonly containerConcurrency: number
  /** Sidecar addresses `host:port` (IPv6 as `[::1]:8012`). May be empty (scaled to zero). */
  readonly endpoints: readonly string[]
  /**
   * Sidecars the platform does not count as ready yet (Kubernetes: slice endpoints with
   * `conditions.ready: false`, Knative's notReadyAddresses) that may take traffic as soon as the
   * activator's own probe passes: Knative's probe optimisation (revision_backends.go), which saves a
   * cold start up to one kubelet readiness period. A source lists them only when the revision allows
   * it (not with an exec readiness probe or a startup probe). Same form as `endpoints`, disjoint from
   * it; absent or empty = none. When one turns ready it moves to `endpoints`, keeping its state; a
   * ready one that moves here is re-probed and leaves rotation only if that probe fails.
   */
  readonly notReadyEndpoints?: readonly string[]
  /** Host header values routed to this revision (use without Knative's routing headers). */
  readonly hosts: readonly string[]
  /** Max time a request may take, buffering included, seconds; null = the activator default. */
  readonly timeoutSeconds: number | null
  /**
   * Knative's responseStartTimeoutSeconds and idleTimeoutSeconds: max time from the request's start
   * (buffering included) to the first response byte, and between response writes, seconds. 0, null or
   * absent = off, as Knative's activator reads a nil field. Optional so sources without them leave them out.
   */
  readonly responseStartTimeoutSeconds?: number | null
  readonly idleTimeoutSeconds?: number | null
  /** Override of the policy Knative would choose from containerConcurrency; null = choose. */
  readonly lbPolicy: LbPolicyName | null
  /**
   * This replica's place among the activators in front of this revision, when the source knows it
   * (Kubernetes: the revision's public endpoints); absent or null = the activator's own slot
   * (--activator-count / --activator-index). Optional so sources that never know it leave it out.
   */
  readonly activators?: ActivatorSlot | null
  /** Set by the Kubernetes source unless mesh-compatibility-mode is disabled; absent or null = pods only. */
  readonly clusterIp?: ClusterIpSpec | null
}

/** Where sources deliver revisions. Implemented by the activator's revision registry. */
export interface RevisionSink {
  /** Adds or replaces one revision (a PUT replaces the whole revision). */
  upsert (spec: RevisionSpec): void
  /** Removes one revision; requests buffered for it fail with 404-like "revision removed". */
  remove (namespace: string, name: string): void
  /** All revisions now known, in no particular order. */
  list (): readonly RevisionSpec[]
}

/** A source of revisions: starts feeding a sink, and stops. */
export interface RevisionSource {
  start (sink: RevisionSink): Promise<void>
  close (): Promise<void>
}

export function revisionKey (namespace: string, name: string): string {
  return `${namespace}/${name}`
}
