// What the autoscaler needs from whatever runs a revision's pods. The multiscaler decides a count
// and calls setScale; it reads back which pods are ready (for the decider and the scraper).
// Implementations: `local` (local-actuator.ts: process pairs on loopback ports) now; `kubernetes`
// (patch a Deployment's scale subresource, read ready pods from EndpointSlices) later. Hence the
// shape: setScale is fire-and-forget (the work is asynchronous and retried by the implementation),
// reads are synchronous views of a cache, and changes are announced through `watch`.

/** `namespace/name`, the key every component uses for a revision. */
export function revisionKeyOf (namespace: string, name: string): string {
  return `${namespace}/${name}`
}

export interface RevisionId {
  readonly namespace: string
  readonly name: string
}

/** A pod of a revision, as the actuator sees it. */
export interface PodView {
  readonly name: string
  /** `host:port` traffic goes to (the sidecar's serving port). */
  readonly servingAddress: string
  /** `host:port` of the sidecar's metrics endpoint (scraped every second). */
  readonly metricsAddress: string
  /** When the pod was started, on the autoscaler's monotonic clock (ms). */
  readonly startedAtMs: number
}

export interface PodCounts {
  /** Serving traffic (probe passed, registered with the activator). */
  readonly ready: number
  /** Starting, not ready yet. */
  readonly pending: number
  /** Stopping (deregistered, draining). */
  readonly terminating: number
}

export interface Actuator {
  /**
   * Ask for `pods` pods of the revision. Returns at once; the actuator converges in the background
   * and calls the watchers when the ready set changes. Asking again for the same count is a no-op.
   */
  setScale (revision: RevisionId, pods: number): void
  /** The pods that are ready now (empty for an unknown revision). */
  readyPods (revision: RevisionId): readonly PodView[]
  podCounts (revision: RevisionId): PodCounts
  /** The last count asked for, or null if none yet. */
  requestedScale (revision: RevisionId): number | null
  /** Calls `listener` with the revision key whenever a revision's pods change state. */
  watch (listener: (key: string) => void): void
  /** Stops every pod it started. */
  close (): Promise<void>
}
