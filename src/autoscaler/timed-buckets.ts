// Windowed averaging of a metric over time, Knative's TimedFloat64Buckets
// (pkg/autoscaler/aggregation/bucketing.go), with the same arithmetic so a given series of
// records gives the same averages.
//
// A ring buffer of ceil(window / granularity) buckets. A time maps to the absolute bucket index
// floor(seconds / granularitySeconds); the slot is that index modulo the ring size.
//
//      firstWrite            lastWrite   now
//          |                     |        |
//   ... [ b0 ][ b1 ][ b2 ] ... [ bk ]  (k+1 .. now: no data, dropped from the average)
//
// - Values recorded within one bucket add up (one scrape plus every activator's push).
// - The average divides by the number of buckets since the first write (capped at the ring
//   size), so a young series averages only its own seconds rather than a mostly-empty window.
// - Buckets after the last write count neither in the sum nor in the divisor; holes between
//   writes that are shorter than the window count as zeros.
// - No write for a whole window: the average is 0 and the next write restarts the series.
//
// Times are milliseconds from the injected monotonic clock. "Never written" is -Infinity, which
// plays the role of Go's zero time.Time (its differences saturate the same way).

/** Knative rounds linear window averages to this many decimal digits. */
export const AVERAGE_PRECISION_DIGITS = 6

/** math.Round(f*10^n)/10^n with Go's rounding (half away from zero). */
export function roundToNDigits (n: number, f: number): number {
  const p = 10 ** n
  const x = f * p
  const r = x < 0 ? -Math.round(-x) : Math.round(x)
  return (r === 0 ? 0 : r) / p
}

/** Slot in a ring of `n` for an absolute index; never negative, unlike `%`. */
export function ringSlot (index: number, n: number): number {
  const r = index % n
  return r < 0 ? r + n : r
}

export class TimedFloat64Buckets {
  /** Ring buffer; slot = absolute bucket index mod length. */
  protected buckets: Float64Array
  /** Start of the current series (ms, bucket aligned), -Infinity if none. */
  protected firstWriteMs: number
  /** Bucket of the most recent write (ms, bucket aligned), -Infinity if none. */
  protected lastWriteMs: number
  protected readonly granularityMs: number
  protected windowMs: number
  /** Sum of all slots, including stale ones after lastWrite; those are subtracted on read. */
  protected windowTotal: number

  /**
   * @param windowMs averaging window (> 0)
   * @param granularityMs bucket width, a whole number of seconds (Knative indexes buckets by
   *   Unix seconds / granularity seconds); the autoscaler uses 1000
   */
  constructor (windowMs: number, granularityMs = 1000) {
    if (!(granularityMs >= 1000 && granularityMs % 1000 === 0)) {
      throw new RangeError(`granularityMs must be a positive whole number of seconds, got ${granularityMs}`)
    }
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be positive, got ${windowMs}`)
    this.buckets = new Float64Array(Math.ceil(windowMs / granularityMs))
    this.firstWriteMs = -Infinity
    this.lastWriteMs = -Infinity
    this.granularityMs = granularityMs
    this.windowMs = windowMs
    this.windowTotal = 0
  }

  /** Current window length in ms. */
  get window (): number { return this.windowMs }

  /** Number of buckets in the ring. */
  get size (): number { return this.buckets.length }

  /** Start of `timeMs`'s bucket (Go: time.Truncate(granularity)). */
  protected truncate (timeMs: number): number {
    return Math.floor(timeMs / this.granularityMs) * this.granularityMs
  }

  /** Absolute bucket index (Go: int(t.Unix()) / int(granularity.Seconds())). */
  protected timeToIndex (timeMs: number): number {
    return Math.trunc(Math.floor(timeMs / 1000) / (this.granularityMs / 1000))
  }

  /** True if nothing was recorded within the last window. */
  isEmpty (nowMs: number): boolean {
    return this.truncate(nowMs) - this.lastWriteMs > this.windowMs
  }

  /**
   * Add `value` to the bucket of `timeMs`. Out-of-order writes within the window land in their
   * own bucket; writes a full window older than the last write are ignored. A write after a gap
   * zeroes the skipped buckets; a write after a full window of silence restarts the series.
   */
  record (timeMs: number, value: number): void {
    const bucketTime = this.truncate(timeMs)
    const writeIdx = this.timeToIndex(timeMs)
    const n = this.buckets.length

    if (this.lastWriteMs !== bucketTime) {
      if (!(bucketTime + this.windowMs > this.lastWriteMs)) {
        // A window or more before the last write: too old to matter.
        return
      }
      if (this.firstWriteMs === -Infinity || this.firstWriteMs > bucketTime) {
        this.firstWriteMs = bucketTime
      }
      if (bucketTime > this.lastWriteMs) {
        if (bucketTime - this.lastWriteMs >= this.windowMs) {
          // No writes for a whole window: restart the series.
          this.firstWriteMs = bucketTime
          this.buckets.fill(0)
          this.windowTotal = 0
        } else {
          // Clear every bucket between the last write and this one (they may hold values
          // from a previous lap of the ring).
          for (let i = this.timeToIndex(this.lastWriteMs) + 1; i <= writeIdx; i++) {
            const slot = ringSlot(i, n)
            this.windowTotal -= this.buckets[slot]
            this.buckets[slot] = 0
          }
        }
        this.lastWriteMs = bucketTime
      }
      // Otherwise lastWrite - window < bucketTime < lastWrite: add to that older bucket.
    }
    const slot = ringSlot(writeIdx, n)
    this.buckets[slot] = (this.buckets[slot]) + value
    this.windowTotal += value
  }

  /** Number of valid buckets: those since the first write, inclusive, at most `cap`. */
  protected validBuckets (cap: number): number {
    return Math.min(Math.floor((this.lastWriteMs - this.firstWriteMs) / this.granularityMs) + 1, cap)
  }

  /**
   * Average bucket value over the window as of `nowMs`, rounded to 6 digits: over the partial
   * window for a young series, excluding the seconds after the last write, 0 if nothing was
   * written for a whole window.
   */
  windowAverage (nowMs: number): number {
    const now = this.truncate(nowMs)
    const d = now - this.lastWriteMs
    if (d <= 0) {
      return roundToNDigits(AVERAGE_PRECISION_DIGITS, this.windowTotal / this.validBuckets(this.buckets.length))
    }
    if (d < this.windowMs) {
      // Drop the buckets between the last write and now: they hold data from a lap ago.
      const n = this.buckets.length
      const stIdx = this.timeToIndex(this.lastWriteMs)
      const eIdx = this.timeToIndex(now)
      let total = this.windowTotal
      for (let i = stIdx + 1; i <= eIdx; i++) total -= this.buckets[ringSlot(i, n)]
      return roundToNDigits(AVERAGE_PRECISION_DIGITS, total / this.validBuckets(n - (eIdx - stIdx)))
    }
    return 0
  }

  /**
   * Change the window length, keeping the newest data that fits. O(buckets); meant for a spec
   * change, not per tick. `nowMs` decides whether the current data is still valid (Knative
   * reads the wall clock here).
   */
  resizeWindow (windowMs: number, nowMs: number): void {
    if (windowMs === this.windowMs) return
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be positive, got ${windowMs}`)
    const numBuckets = Math.ceil(windowMs / this.granularityMs)
    const newBuckets = new Float64Array(numBuckets)
    let newTotal = 0
    if (this.truncate(nowMs) - this.lastWriteMs <= this.windowMs) {
      // Copy the newest min(old, new) buckets, newest first.
      const oldN = this.buckets.length
      let tIdx = this.timeToIndex(this.lastWriteMs)
      const count = Math.min(numBuckets, oldN)
      for (let k = 0; k < count; k++) {
        const v = this.buckets[ringSlot(tIdx, oldN)]
        newBuckets[ringSlot(tIdx, numBuckets)] = v
        newTotal += v
        tIdx--
      }
      // The earliest time that may hold data (Knative's choice, even for a young series).
      this.firstWriteMs = this.lastWriteMs - (oldN - 1) * this.granularityMs
    } else {
      this.firstWriteMs = -Infinity
    }
    this.windowMs = windowMs
    this.buckets = newBuckets
    this.windowTotal = newTotal
  }

  /**
   * Diagnostics (status page, tests): visit the buckets still inside the window as of `nowMs`,
   * newest first, with each bucket's start time. Not for the decision path.
   */
  forEachBucket (nowMs: number, visit: (timeMs: number, value: number) => void): void {
    const n = this.buckets.length
    const count = n - Math.floor((this.truncate(nowMs) - this.lastWriteMs) / this.granularityMs)
    let bucketTime = this.lastWriteMs
    let idx = this.timeToIndex(bucketTime)
    for (let k = 0; k < count; k++) {
      visit(bucketTime, this.buckets[ringSlot(idx, n)])
      idx--
      bucketTime -= this.granularityMs
    }
  }
}
