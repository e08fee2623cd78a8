// A Prometheus histogram with fixed buckets: cumulative `_bucket{le=…}` counts, `_sum`, `_count`.
// For rare, per-label observations (an activator's cold starts per revision), where an hdr-histogram
// per label (~95 KB each) would cost far more than the handful of numbers it needs. Recording is a
// short linear scan over the bounds, no allocation.

import { formatSampleValue } from './prometheus-text.ts'

/** Seconds: 5 ms .. 5 min, roughly x2.5 per step; covers a warm pod (ms) to a slow image pull (minutes). */
export const COLD_START_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300,
])

export class BucketHistogram {
  /** Upper bounds, ascending; +Inf is implicit. */
  readonly bounds: readonly number[]
  /** Non-cumulative counts; the last slot is the +Inf overflow. */
  readonly #counts: Float64Array
  #sum = 0
  #count = 0

  constructor (bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!((bounds[i] ?? 0) > (bounds[i - 1] ?? 0))) throw new RangeError('bucket bounds must ascend')
    }
    this.bounds = bounds
    this.#counts = new Float64Array(bounds.length + 1)
  }

  get count (): number { return this.#count }
  get sum (): number { return this.#sum }

  observe (value: number): void {
    const b = this.bounds
    let i = 0
    while (i < b.length && value > (b[i] ?? 0)) i++
    this.#counts[i] = (this.#counts[i] ?? 0) + 1
    this.#sum += value
    this.#count++
  }

  /** Cumulative count of observations <= bounds[i] (i = bounds.length: all). */
  cumulative (i: number): number {
    let n = 0
    for (let j = 0; j <= i && j < this.#counts.length; j++) n += this.#counts[j] ?? 0
    return n
  }

  /**
   * The sample lines of this histogram for one label set. `labels` is the rendered label list without
   * braces (`namespace="a",revision="b"`), '' for none. HELP/TYPE are the caller's (once per family).
   */
  render (name: string, labels: string): string {
    const sep = labels === '' ? '' : ','
    let out = ''
    let cumulative = 0
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.#counts[i] ?? 0
      out += `${name}_bucket{${labels}${sep}le="${formatSampleValue(this.bounds[i] ?? 0)}"} ${cumulative}\n`
    }
    out += `${name}_bucket{${labels}${sep}le="+Inf"} ${this.#count}\n`
    const braces = labels === '' ? '' : `{${labels}}`
    out += `${name}_sum${braces} ${formatSampleValue(this.#sum)}\n`
    out += `${name}_count${braces} ${this.#count}\n`
    return out
  }
}
