import type { Logger } from '../shared/logger.ts'
import type { ActivatorSlot } from './activator-slice.ts'
import { Revision, type RevisionDeps } from './revision.ts'
import type { RevisionSink, RevisionSpec } from './revision-spec.ts'

// The revisions this activator serves, fed by the sources (static file, admin API, Kubernetes) through
// RevisionSink, and looked up by the request path: by Knative's routing headers (namespace, name) or
// by Host. Two maps deep (namespace -> name -> revision) so a lookup builds no key string.
//
// Hosts: a host names one revision. A host claimed by a second revision stays with the first (the
// conflict is logged); it moves only when the first revision drops it or is removed and the second
// is upserted again. Without a configured host, Knative's activator form `<name>.<namespace>.svc…`
// also routes.

/** Every map has a limit: revisions beyond this are refused (logged). */
export const MAX_REVISIONS = 10_000

export type RevisionDepsFactory = (spec: RevisionSpec) => RevisionDeps

export class RevisionRegistry implements RevisionSink {
  readonly #byNamespace = new Map<string, Map<string, Revision>>()
  readonly #hosts = new Map<string, Revision>()
  readonly #deps: RevisionDepsFactory
  readonly #logger: Logger
  #count = 0
  #activators: ActivatorSlot

  constructor (deps: RevisionDepsFactory, activators: ActivatorSlot, logger: Logger) {
    this.#deps = deps
    this.#activators = activators
    this.#logger = logger
  }

  get size (): number { return this.#count }
  get activators (): ActivatorSlot { return this.#activators }

  // --- RevisionSink --------------------------------------------------------------------------

  upsert (spec: RevisionSpec): void {
    const existing = this.lookup(spec.namespace, spec.name)
    if (existing !== undefined) {
      const oldHosts = existing.spec.hosts
      existing.update(spec)
      this.#reindexHosts(existing, oldHosts)
      return
    }
    if (this.#count >= MAX_REVISIONS) {
      this.#logger.error({ namespace: spec.namespace, name: spec.name, max: MAX_REVISIONS }, 'too many revisions: refused')
      return
    }
    const deps = this.#deps(spec)
    const revision = new Revision(spec, { ...deps, activators: this.#activators })
    let names = this.#byNamespace.get(spec.namespace)
    if (names === undefined) {
      names = new Map()
      this.#byNamespace.set(spec.namespace, names)
    }
    names.set(spec.name, revision)
    this.#count++
    this.#reindexHosts(revision, [])
  }

  remove (namespace: string, name: string): void {
    const names = this.#byNamespace.get(namespace)
    const revision = names?.get(name)
    if (names === undefined || revision === undefined) return
    names.delete(name)
    if (names.size === 0) this.#byNamespace.delete(namespace)
    this.#count--
    for (const h of revision.spec.hosts) {
      const host = normalizeHost(h)
      if (this.#hosts.get(host) === revision) this.#hosts.delete(host)
    }
    revision.close()
  }

  list (): readonly RevisionSpec[] {
    const out: RevisionSpec[] = []
    for (const names of this.#byNamespace.values()) for (const r of names.values()) out.push(r.spec)
    return out
  }

  // --- lookups (request path) ----------------------------------------------------------------

  lookup (namespace: string, name: string): Revision | undefined {
    return this.#byNamespace.get(namespace)?.get(name)
  }

  /** By Host header (port ignored, case-insensitive); then Knative's `<name>.<namespace>.svc…` form. */
  lookupHost (hostHeader: string): Revision | undefined {
    const host = normalizeHost(hostHeader)
    const byHost = this.#hosts.get(host)
    if (byHost !== undefined) return byHost
    const first = host.indexOf('.')
    if (first <= 0) return undefined
    const second = host.indexOf('.', first + 1)
    if (second <= first + 1) return undefined
    if (!host.startsWith('svc', second + 1) || (host.length !== second + 4 && host.charCodeAt(second + 4) !== 46 /* . */)) return undefined
    return this.lookup(host.slice(first + 1, second), host.slice(0, first))
  }

  /** All revisions (metrics, drain). */
  * revisions (): IterableIterator<Revision> {
    for (const names of this.#byNamespace.values()) yield * names.values()
  }

  // --- control -------------------------------------------------------------------------------

  /** This replica's place among the activators, for every revision whose spec carries no slot of its own. */
  setActivators (slot: ActivatorSlot): void {
    this.#activators = slot
    for (const r of this.revisions()) r.setActivators(slot)
  }

  /** Removes every revision (shutdown). */
  close (): void {
    for (const r of [...this.revisions()]) this.remove(r.spec.namespace, r.spec.name)
  }

  #reindexHosts (revision: Revision, oldHosts: readonly string[]): void {
    const now = new Set(revision.spec.hosts.map(normalizeHost))
    for (const h of oldHosts) {
      const host = normalizeHost(h)
      if (!now.has(host) && this.#hosts.get(host) === revision) this.#hosts.delete(host)
    }
    for (const host of now) {
      const owner = this.#hosts.get(host)
      if (owner === undefined) this.#hosts.set(host, revision)
      else if (owner !== revision) this.#logger.warn({ host, owner: owner.key, revision: revision.key }, 'host already routes to another revision: ignored')
    }
  }
}

/** Lower case, without the port (`Hello.Local:8080` -> `hello.local`; `[::1]:80` -> `[::1]`). */
export function normalizeHost (host: string): string {
  let end = host.length
  const colon = host.lastIndexOf(':')
  if (colon > 0 && host.indexOf(']', colon) === -1 && (host.charCodeAt(0) === 91 /* [ */ || host.indexOf(':') === colon)) end = colon
  const h = end === host.length ? host : host.slice(0, end)
  return h.toLowerCase()
}
