// An in-memory RevisionSink for the source tests: the state, plus a log of every call.

import { revisionKey, type RevisionSink, type RevisionSpec } from '../../../src/activator/revision-spec.ts'

export type SinkCall = { op: 'upsert', spec: RevisionSpec } | { op: 'remove', key: string }

export class MemorySink implements RevisionSink {
  readonly revisions = new Map<string, RevisionSpec>()
  readonly calls: SinkCall[] = []
  #waiters: Array<{ check: () => boolean, resolve: () => void }> = []

  upsert (spec: RevisionSpec): void {
    this.revisions.set(revisionKey(spec.namespace, spec.name), spec)
    this.calls.push({ op: 'upsert', spec })
    this.#notify()
  }

  remove (namespace: string, name: string): void {
    const key = revisionKey(namespace, name)
    this.revisions.delete(key)
    this.calls.push({ op: 'remove', key })
    this.#notify()
  }

  list (): readonly RevisionSpec[] {
    return [...this.revisions.values()]
  }

  get (key: string): RevisionSpec | undefined {
    return this.revisions.get(key)
  }

  /** Keys, sorted. */
  keys (): string[] {
    return [...this.revisions.keys()].sort()
  }

  /** Resolves once check() holds (checked after every call); rejects after timeoutMs. */
  until (check: () => boolean, timeoutMs = 3000): Promise<void> {
    if (check()) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done)
        reject(new Error('MemorySink.until: timed out'))
      }, timeoutMs)
      const done = (): void => { clearTimeout(timer); resolve() }
      this.#waiters.push({ check, resolve: done })
    })
  }

  #notify (): void {
    const ready = this.#waiters.filter((w) => w.check())
    this.#waiters = this.#waiters.filter((w) => !ready.includes(w))
    for (const w of ready) w.resolve()
  }
}
