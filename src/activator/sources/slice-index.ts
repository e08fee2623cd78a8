// EndpointSlices by name and by revision. A revision's service may have several slices, and a watch event
// names only the slice, so both ways are needed. Bounded: beyond `max` slices new ones are refused and
// `onFull` is called (the caller logs), never unbounded.

import { revisionKey } from '../revision-spec.ts'

export interface RevisionSlice {
  readonly namespace: string
  readonly name: string
  /** The revision the slice belongs to; null = none (not indexed). */
  readonly revision: string | null
}

export class SliceIndex<T extends RevisionSlice> {
  readonly #max: number
  readonly #onFull: () => void
  /** `namespace/sliceName` -> slice. */
  readonly #slices = new Map<string, T>()
  /** revisionKey -> keys of its slices (never an empty set). */
  readonly #byRevision = new Map<string, Set<string>>()

  constructor (max: number, onFull: () => void) {
    this.#max = max
    this.#onFull = onFull
  }

  get size (): number { return this.#slices.size }

  /** Keys of the revisions with at least one slice. */
  revisionKeys (): IterableIterator<string> { return this.#byRevision.keys() }

  hasRevision (revKey: string): boolean { return this.#byRevision.has(revKey) }

  * slicesOf (revKey: string): IterableIterator<T> {
    const keys = this.#byRevision.get(revKey)
    if (keys === undefined) return
    for (const sliceKey of keys) {
      const slice = this.#slices.get(sliceKey)
      if (slice !== undefined) yield slice
    }
  }

  /**
   * Indexes the slice, replacing any of the same name (call remove() first to learn the revision that
   * one had); the slice's revision key, or null when it names none or there is no room.
   */
  add (slice: T): string | null {
    this.remove(`${slice.namespace}/${slice.name}`)
    if (slice.revision === null) return null
    if (this.#slices.size >= this.#max) {
      this.#onFull()
      return null
    }
    const sliceKey = `${slice.namespace}/${slice.name}`
    const revKey = revisionKey(slice.namespace, slice.revision)
    this.#slices.set(sliceKey, slice)
    let keys = this.#byRevision.get(revKey)
    if (keys === undefined) {
      keys = new Set()
      this.#byRevision.set(revKey, keys)
    }
    keys.add(sliceKey)
    return revKey
  }

  /** Forgets the slice; the revision key it had, or null when it was not indexed. */
  remove (sliceKey: string): string | null {
    const slice = this.#slices.get(sliceKey)
    if (slice === undefined || slice.revision === null) return null
    this.#slices.delete(sliceKey)
    const revKey = revisionKey(slice.namespace, slice.revision)
    const keys = this.#byRevision.get(revKey)
    if (keys !== undefined) {
      keys.delete(sliceKey)
      if (keys.size === 0) this.#byRevision.delete(revKey)
    }
    return revKey
  }

  /** A relist: the index holds exactly the slices `parse` accepts; the keys of revisions before or now. */
  replaceAll (items: readonly unknown[], parse: (item: unknown) => T | null): Set<string> {
    const affected = this.clear()
    for (const item of items) {
      const slice = parse(item)
      const revKey = slice === null ? null : this.add(slice)
      if (revKey !== null) affected.add(revKey)
    }
    return affected
  }

  /** A watch event on slice `sliceKey`: the revisions it left and joined. */
  apply (deleted: boolean, sliceKey: string, object: unknown, parse: (item: unknown) => T | null): Set<string> {
    const affected = new Set<string>()
    const old = this.remove(sliceKey)
    if (old !== null) affected.add(old)
    if (!deleted) {
      const slice = parse(object)
      const revKey = slice === null ? null : this.add(slice)
      if (revKey !== null) affected.add(revKey)
    }
    return affected
  }

  /** Forgets every slice (before a relist); the keys of the revisions that had some. */
  clear (): Set<string> {
    const had = new Set(this.#byRevision.keys())
    this.#slices.clear()
    this.#byRevision.clear()
    return had
  }
}
