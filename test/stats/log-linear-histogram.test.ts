import * as hdr from 'hdr-histogram-js'
import t from 'tap'
import { MAX_RECORDABLE_MS } from '../../src/stats/latency-summary.ts'
import { LogLinearHistogram } from '../../src/stats/log-linear-histogram.ts'

const HIGHEST = MAX_RECORDABLE_MS * 1000
const PERCENTILES = [0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100]

function reference (): hdr.Histogram {
  return hdr.build({ bitBucketSize: 32, autoResize: false, lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST, numberOfSignificantValueDigits: 3, useWebAssembly: false })
}

/** Deterministic values over the whole range, dense near the bucket edges (xorshift32). */
function values (seed: number, n: number): number[] {
  let x = seed
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0
    const magnitude = x % 33
    const edge = x % 7 === 0 ? 2 ** Math.min(31, magnitude) + (x % 3) - 1 : Math.floor((x / 2 ** 32) * 2 ** magnitude)
    out.push(Math.max(0, Math.min(HIGHEST, edge)))
  }
  return out
}

t.test('the same quantiles as hdr-histogram-js with the same layout', async (t) => {
  for (const [seed, n] of [[1, 1], [7, 10], [42, 1000], [2024, 20_000]] as const) {
    const ours = new LogLinearHistogram(HIGHEST)
    const ref = reference()
    for (const v of values(seed, n)) { ours.recordValue(v); ref.recordValue(v) }
    t.equal(ours.totalCount, ref.totalCount)
    t.same(PERCENTILES.map((p) => ours.getValueAtPercentile(p)), PERCENTILES.map((p) => ref.getValueAtPercentile(p)), `seed ${seed}, ${n} values`)
  }
})

t.test('add and reset as hdr-histogram-js', async (t) => {
  const a = new LogLinearHistogram(HIGHEST)
  const b = new LogLinearHistogram(HIGHEST)
  const ra = reference()
  const rb = reference()
  for (const v of values(3, 500)) { a.recordValue(v); ra.recordValue(v) }
  for (const v of values(5, 500)) { b.recordValue(v); rb.recordValue(v) }
  a.add(b)
  ra.add(rb)
  t.same(PERCENTILES.map((p) => a.getValueAtPercentile(p)), PERCENTILES.map((p) => ra.getValueAtPercentile(p)))
  a.reset()
  t.equal(a.totalCount, 0)
  t.equal(a.getValueAtPercentile(50), 0, 'empty: 0')
  t.throws(() => { a.recordValue(HIGHEST + 1) }, RangeError)
  t.throws(() => { a.add(new LogLinearHistogram(HIGHEST * 4)) }, RangeError)
})
