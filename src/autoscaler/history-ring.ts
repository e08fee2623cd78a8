// A fixed-size ring of the most recent samples (the status page's sparklines). Writes overwrite
// the oldest entry; reads copy out oldest-first. Bounded by construction.

export class HistoryRing<T> {
  readonly capacity: number
  readonly #items: Array<T | undefined>
  /** Index of the next write. */
  #head: number
  #size: number

  constructor (capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer')
    this.capacity = capacity
    this.#items = new Array<T | undefined>(capacity).fill(undefined)
    this.#head = 0
    this.#size = 0
  }

  get size (): number { return this.#size }

  push (item: T): void {
    this.#items[this.#head] = item
    this.#head = (this.#head + 1) % this.capacity
    if (this.#size < this.capacity) this.#size++
  }

  /** The newest item, or null when empty. */
  latest (): T | null {
    if (this.#size === 0) return null
    return this.#items[(this.#head - 1 + this.capacity) % this.capacity] ?? null
  }

  /** Up to `limit` newest items, oldest first. */
  toArray (limit = this.#size): T[] {
    const n = Math.min(limit, this.#size)
    const out: T[] = []
    for (let i = n; i > 0; i--) {
      const item = this.#items[(this.#head - i + this.capacity) % this.capacity]
      if (item !== undefined) out.push(item)
    }
    return out
  }
}
