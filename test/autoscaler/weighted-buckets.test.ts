// Replays Knative's bucketing_test.go cases for WeightedFloat64Buckets.
import t from 'tap'
import { WeightedFloat64Buckets, computeSmoothingCoeff, MIN_SMOOTHING_COEFF } from '../../src/autoscaler/weighted-buckets.ts'
import { roundToNDigits } from '../../src/autoscaler/timed-buckets.ts'

const NOW = 1_700_000_123_456

t.test('decay multiplier (TestComputeDecayMultiplier)', async (t) => {
  const rows: Array<[number, number]> = [[100, MIN_SMOOTHING_COEFF], [60, MIN_SMOOTHING_COEFF], [40, 0.20567], [6, 0.78456]]
  for (const [nb, want] of rows) {
    t.ok(Math.abs(computeSmoothingCoeff(nb) - want) < 1e-5, `nb=${nb}: ${computeSmoothingCoeff(nb)} ~ ${want}`)
  }
})

t.test('weighted average (TestTimedFloat64BucketsWeightedAverage)', async (t) => {
  const now = NOW
  const b = new WeightedFloat64Buckets(5_000)
  const m = b.smoothingCoeff
  b.record(now, 2)
  let want = 2 * m
  t.equal(b.windowAverage(now), want)
  want *= 1 - m
  t.equal(b.windowAverage(now + 1000), want, 'a second without data decays the value')
  b.record(now + 1000, 2)
  want += 2 * m
  t.equal(b.windowAverage(now + 1000), want)
  // Fill the window with [2, 3, 4, 5, 6].
  for (let i = 0; i < 5; i++) b.record(now + (2 + i) * 1000, i + 2)
  want = 6 * m + 5 * m * (1 - m) + 4 * m * (1 - m) ** 2 + 3 * m * (1 - m) ** 3 + 2 * m * (1 - m) ** 4
  t.ok(Math.abs(b.windowAverage(now + 6000) - want) < 1e-12)
  t.equal(b.windowAverage(now + 16_000), 0, 'empty window')
})

t.test('newest data weighs most', async (t) => {
  const rising = new WeightedFloat64Buckets(4_000)
  const falling = new WeightedFloat64Buckets(4_000)
  const data = [10, 10, 5, 5]
  for (let i = 0; i < 4; i++) {
    rising.record(NOW + i * 1000, data[3 - i])
    falling.record(NOW + i * 1000, data[i])
  }
  t.ok(rising.windowAverage(NOW + 3000) > falling.windowAverage(NOW + 3000))
})

t.test('resize window (TestWeightedFloat64BucketsResizeWindow)', async (t) => {
  const b = new WeightedFloat64Buckets(5_000)
  t.equal(b.smoothingCoeff, computeSmoothingCoeff(5))
  for (let i = 0; i < 6; i++) b.record(NOW + i * 1000, i + 1)
  const now = NOW + 5000
  let sum = 0
  b.forEachBucket(now, (_time, v) => { sum += v })
  t.equal(sum, 2 + 3 + 4 + 5 + 6)
  t.equal(roundToNDigits(3, b.windowAverage(now)), 5.812, 'computed by hand in Knative')
  b.resizeWindow(10_000, now)
  t.equal(b.size, 10)
  t.equal(b.window, 10_000)
  t.equal(b.smoothingCoeff, computeSmoothingCoeff(10))
})
