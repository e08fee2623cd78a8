// What the activator knows about one revision, whichever source it came from (static file,
// admin API, Kubernetes EndpointSlices). Sources validate into this shape; the activator's
// registry consumes it through RevisionSink.

import type { ActivatorSlot } from './activator-slice.ts'

export type LbPolicyName = 'random-choice-2' | 'first-available' | 'round-robin'

export interface RevisionSpec {
  readonly namespace: string
  readonly name: string
  /** Per-pod concurrency limit; 0 = unlimited. */
  readonly containerConcurrency: number
  /** Sidecar addresses `host:port` (IPv6 as `[::1]:8012`). May be empty (scaled to zero). */
  readonly endpoints: readonly string[]
  /** Host header values routed to this revision (use without Knative's routing headers). */
  readonly hosts: readonly string[]
  /** Max time a request may take, buffering included, seconds; null = the activator default. */
  readonly timeoutSeconds: number | null
  /** Override of the policy Knative would choose from containerConcurrency; null = choose. */
  readonly lbPolicy: LbPolicyName | null
  /**
   * This replica's place among the activators in front of this revision, when the source knows it
   * (Kubernetes: the revision's public endpoints); absent or null = the activator's own slot
   * (--activator-count / --activator-index). Optional so sources that never know it leave it out.
   */
  readonly activators?: ActivatorSlot | null
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
