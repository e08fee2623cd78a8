// What one source has delivered to the sink. Several sources may feed one registry (the revisions file
// and the admin API, say), so a source diffs against what *it* emitted, never against sink.list(): a
// file reload must not remove revisions that the admin API put there.

import type { Logger } from '../../shared/logger.ts'
import type { ActivatorSlot } from '../activator-slice.ts'
import { revisionKey, type ClusterIpSpec, type RevisionSink, type RevisionSpec } from '../revision-spec.ts'

export interface SyncResult {
  readonly upserted: number
  readonly removed: number
}

export class EmittedRevisions {
  readonly #sink: RevisionSink
  readonly #logger: Logger
  /** revisionKey -> the spec last upserted. */
  readonly #emitted = new Map<string, RevisionSpec>()

  constructor (sink: RevisionSink, logger: Logger) {
    this.#sink = sink
    this.#logger = logger
  }

  get size (): number { return this.#emitted.size }

  /** Makes the emitted set equal `desired` (keyed by revisionKey): upserts new or changed, removes the rest. */
  sync (desired: ReadonlyMap<string, RevisionSpec>): SyncResult {
    let removed = 0
    for (const [key, spec] of this.#emitted) {
      if (!desired.has(key) && this.#remove(key, spec)) removed++
    }
    let upserted = 0
    for (const spec of desired.values()) {
      if (this.put(spec)) upserted++
    }
    return { upserted, removed }
  }

  /** Upserts `spec` unless the same spec was already delivered. True when the sink was called. */
  put (spec: RevisionSpec): boolean {
    const key = revisionKey(spec.namespace, spec.name)
    const previous = this.#emitted.get(key)
    if (previous !== undefined && revisionSpecsEqual(previous, spec)) return false
    try {
      this.#sink.upsert(spec)
    } catch (err) {
      // Not recorded as emitted, so the next sync tries again.
      this.#logger.error({ err, revision: key }, 'revision sink rejected an upsert')
      return false
    }
    this.#emitted.set(key, spec)
    return true
  }

  /** Removes the revision if this source delivered it. True when the sink was called. */
  drop (namespace: string, name: string): boolean {
    return this.dropKey(revisionKey(namespace, name))
  }

  /** drop() by revisionKey. */
  dropKey (key: string): boolean {
    const previous = this.#emitted.get(key)
    return previous !== undefined && this.#remove(key, previous)
  }

  #remove (key: string, spec: RevisionSpec): boolean {
    this.#emitted.delete(key)
    try {
      this.#sink.remove(spec.namespace, spec.name)
    } catch (err) {
      this.#logger.error({ err, revision: key }, 'revision sink rejected a remove')
      return false
    }
    return true
  }
}

/** Field-by-field equality; endpoint and host order counts (sources emit them in a stable order). */
export function revisionSpecsEqual (a: RevisionSpec, b: RevisionSpec): boolean {
  return a.namespace === b.namespace &&
    a.name === b.name &&
    a.containerConcurrency === b.containerConcurrency &&
    a.timeoutSeconds === b.timeoutSeconds &&
    (a.responseStartTimeoutSeconds ?? null) === (b.responseStartTimeoutSeconds ?? null) &&
    (a.idleTimeoutSeconds ?? null) === (b.idleTimeoutSeconds ?? null) &&
    a.lbPolicy === b.lbPolicy &&
    slotsEqual(a.activators ?? null, b.activators ?? null) &&
    clusterIpsEqual(a.clusterIp ?? null, b.clusterIp ?? null) &&
    listsEqual(a.endpoints, b.endpoints) &&
    listsEqual(a.notReadyEndpoints ?? NONE, b.notReadyEndpoints ?? NONE) &&
    listsEqual(a.hosts, b.hosts)
}

const NONE: readonly string[] = Object.freeze([])

function clusterIpsEqual (a: ClusterIpSpec | null, b: ClusterIpSpec | null): boolean {
  if (a === null || b === null) return a === b
  return a.mode === b.mode && a.dest === b.dest
}

function slotsEqual (a: ActivatorSlot | null, b: ActivatorSlot | null): boolean {
  if (a === null || b === null) return a === b
  return a.index === b.index && a.count === b.count
}

function listsEqual (a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false
  }
  return true
}
