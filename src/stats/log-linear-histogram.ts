// An HDR histogram (Gil Tene's layout, as hdr-histogram-js builds it with lowestDiscernibleValue 1),
// reduced to what LatencySummary calls: recordValue, reset, add, getValueAtPercentile, totalCount.
// Same bucket layout, so the same quantiles to the last digit (test/stats/log-linear-histogram.test.ts
// compares the two). It replaces hdr-histogram-js on the request path because that package, even with
// useWebAssembly false, evaluates its base64 WASM build and a JS inflate at import: ~30 ms and ~15 MB of
// RSS in every sidecar (issue 12), for ~80 lines of arithmetic.
//
// Layout: values below SUB_BUCKET_COUNT (2^11: 3 significant digits need 2 * 10^3 distinct values) are
// counted exactly (bucket 0). Bucket b >= 1 covers [2^(b+10), 2^(b+11)) in SUB_BUCKET_HALF_COUNT steps of
// 2^b, so the error stays below 1/1024 of the value. Counts are one flat Int32Array:
//
//   index:  0 ........ 2047 | 2048 .... 3071 | 3072 .... 4095 | ...
//   bucket: 0 (step 1)       | 1 (step 2)     | 2 (step 4)     | ...  (buckets >= 1 store their upper half)

const SUB_BUCKET_HALF_COUNT_MAGNITUDE = 10
const SUB_BUCKET_HALF_COUNT = 1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE
const SUB_BUCKET_COUNT = SUB_BUCKET_HALF_COUNT * 2
const TWO_POW_32 = 2 ** 32

/** floor(log2(v)) for an integer 1 <= v < 2^53 (Math.log2 can round up just below a power of two). */
function floorLog2 (v: number): number {
  if (v < TWO_POW_32) return 31 - Math.clz32(v)
  return 63 - Math.clz32(Math.floor(v / TWO_POW_32))
}

function bucketIndexOf (value: number): number {
  if (value < SUB_BUCKET_COUNT) return 0
  return floorLog2(value) - SUB_BUCKET_HALF_COUNT_MAGNITUDE
}

export class LogLinearHistogram {
  /** Largest value recordValue accepts; larger ones throw, as hdr-histogram-js without autoResize. */
  readonly highestTrackableValue: number
  readonly #counts: Int32Array
  #totalCount = 0

  constructor (highestTrackableValue: number) {
    if (!(highestTrackableValue >= SUB_BUCKET_COUNT) || highestTrackableValue > Number.MAX_SAFE_INTEGER) {
      throw new RangeError(`highestTrackableValue must be in [${SUB_BUCKET_COUNT}, 2^53), got ${highestTrackableValue}`)
    }
    this.highestTrackableValue = highestTrackableValue
    // hdr's getBucketsNeededToCoverValue: doublings of SUB_BUCKET_COUNT until past the highest value.
    let buckets = 1
    for (let smallestUntrackable = SUB_BUCKET_COUNT; smallestUntrackable <= highestTrackableValue; smallestUntrackable *= 2) buckets++
    // Zero-filled by the allocator: pages no value reaches are never touched.
    this.#counts = new Int32Array((buckets + 1) * SUB_BUCKET_HALF_COUNT)
  }

  get totalCount (): number { return this.#totalCount }

  /** Counts one integer value in [0, highestTrackableValue]. */
  recordValue (value: number): void {
    const index = this.#indexOf(value)
    if (index < 0 || index >= this.#counts.length || value > this.highestTrackableValue) throw new RangeError(`value ${value} out of range`)
    this.#counts[index] = (this.#counts[index] ?? 0) + 1
    this.#totalCount++
  }

  reset (): void {
    this.#counts.fill(0)
    this.#totalCount = 0
  }

  /** Adds the counts of `other`, a histogram of the same range. */
  add (other: LogLinearHistogram): void {
    const from = other.#counts
    const to = this.#counts
    if (from.length !== to.length) throw new RangeError('histograms of different ranges')
    if (other.#totalCount === 0) return
    for (let i = 0; i < to.length; i++) {
      const c = from[i] ?? 0
      if (c !== 0) to[i] = (to[i] ?? 0) + c
    }
    this.#totalCount += other.#totalCount
  }

  /**
   * hdr's getValueAtPercentile: the highest value equivalent to the first index at which the running
   * count reaches percentile% of the total (rounded, at least 1); the lowest equivalent for 0; 0 if empty.
   */
  getValueAtPercentile (percentile: number): number {
    const requested = Math.min(percentile, 100)
    const countAtPercentile = Math.max(Math.floor((requested / 100) * this.#totalCount + 0.5), 1)
    const counts = this.#counts
    let running = 0
    for (let i = 0; i < counts.length; i++) {
      running += counts[i] ?? 0
      if (running >= countAtPercentile) {
        const value = valueFromIndex(i)
        const lowest = lowestEquivalentValue(value)
        return percentile === 0 ? lowest : lowest + sizeOfEquivalentRange(value) - 1
      }
    }
    return 0
  }

  #indexOf (value: number): number {
    const bucket = bucketIndexOf(value)
    const subBucket = Math.floor(value / 2 ** bucket)
    return ((bucket + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + subBucket - SUB_BUCKET_HALF_COUNT
  }
}

function valueFromIndex (index: number): number {
  let bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) - 1
  let subBucket = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT
  if (bucket < 0) {
    subBucket -= SUB_BUCKET_HALF_COUNT
    bucket = 0
  }
  return subBucket * 2 ** bucket
}

function sizeOfEquivalentRange (value: number): number {
  return 2 ** bucketIndexOf(value)
}

function lowestEquivalentValue (value: number): number {
  const size = sizeOfEquivalentRange(value)
  return Math.floor(value / size) * size
}
