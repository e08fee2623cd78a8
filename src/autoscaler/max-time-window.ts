// Maximum over a sliding window, Knative's max.TimeWindow (pkg/autoscaler/aggregation/max),
// used by scale-down-delay: the decider records each desired pod count and applies the largest
// one seen within the delay, so a scale-down happens only after the lower count has held for
// the whole delay.
//
// "Descending minima" deque in a fixed ring: entries are kept in decreasing value order and
// increasing index order. A new value first pops every entry at the tail that is not larger
// (they can never be the maximum again: the new one is larger and newer), then entries at the
// head that have slid out of the window are dropped. The head is the current maximum. Each
// record is amortised O(1) and memory is bounded by the window length.

/** Index-based window: indexes must not decrease between records. */
export class MaxWindow {
  readonly #indexes: Float64Array
  readonly #values: Float64Array
  #first: number
  #length: number

  constructor (size: number) {
    if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`size must be a positive integer, got ${size}`)
    this.#indexes = new Float64Array(size)
    this.#values = new Float64Array(size)
    this.#first = 0
    this.#length = 0
  }

  #slot (i: number): number {
    return i % this.#indexes.length
  }

  /** Record `value` at `index` (indexes are monotonically non-decreasing). */
  record (index: number, value: number): void {
    const size = this.#indexes.length
    let v = value
    // 1. Drop tail entries that are not larger than the new value.
    while (this.#length > 0 && !(v < this.#values[this.#slot(this.#first + this.#length - 1)])) {
      this.#length--
    }
    // 2. Drop head entries that are a full window old.
    while (this.#length > 0 && index - this.#indexes[this.#first] >= size) {
      this.#length--
      this.#first++
      if (this.#first === size) this.#first = 0
    }
    // 2b. Several values at the same index: keep the largest.
    if (this.#length > 0) {
      const last = this.#slot(this.#first + this.#length - 1)
      if (this.#indexes[last] === index) {
        if (this.#values[last] > v) v = this.#values[last]
        this.#length--
      }
    }
    // 3. Append (it is the smallest entry, so order is kept).
    const at = this.#slot(this.#first + this.#length)
    this.#indexes[at] = index
    this.#values[at] = v
    this.#length++
  }

  /** The maximum within the window (0 before the first record, as in Knative). */
  current (): number {
    return this.#values[this.#first]
  }
}

/** Time-based window: the maximum of the values recorded within the last `durationMs`. */
export class MaxTimeWindow {
  readonly #window: MaxWindow
  readonly #granularitySeconds: number

  /**
   * @param durationMs window length
   * @param granularityMs bucket width, a whole number of seconds (the decider uses its 2 s tick)
   */
  constructor (durationMs: number, granularityMs: number) {
    if (!(granularityMs >= 1000 && granularityMs % 1000 === 0)) {
      throw new RangeError(`granularityMs must be a positive whole number of seconds, got ${granularityMs}`)
    }
    this.#window = new MaxWindow(Math.ceil(durationMs / granularityMs))
    this.#granularitySeconds = granularityMs / 1000
  }

  /** Record `value` at `nowMs` (Go: index = int(now.Unix()) / int(granularity.Seconds())). */
  record (nowMs: number, value: number): void {
    this.#window.record(Math.trunc(Math.floor(nowMs / 1000) / this.#granularitySeconds), value)
  }

  /** The maximum value recorded within the window. */
  current (): number {
    return this.#window.current()
  }
}
