// Replays Knative's pkg/autoscaler/aggregation/bucketing_test.go (linear buckets).
import t from 'tap'
import { TimedFloat64Buckets, roundToNDigits } from '../../src/autoscaler/timed-buckets.ts'

// An arbitrary, not bucket-aligned start, like Knative's time.Now(); buckets key on whole seconds.
const NOW = 1_700_000_123_456

function bucketsOf (b: TimedFloat64Buckets, nowMs: number): Map<number, number> {
  const got = new Map<number, number>()
  b.forEachBucket(nowMs, (time, value) => { if (value > 0) got.set(time, value) })
  return got
}

function sumOf (b: TimedFloat64Buckets, nowMs: number): number {
  let sum = 0
  b.forEachBucket(nowMs, (_time, value) => { sum += value })
  return sum
}

t.test('values within one bucket add up (TestTimedFloat64BucketsSimple)', async (t) => {
  const trunc1 = Math.floor(NOW / 1000) * 1000
  const trunc5 = Math.floor(NOW / 5000) * 5000
  const rows: Array<{ name: string, granularityMs: number, stats: Array<[number, number]>, want: Array<[number, number]> }> = [
    {
      name: 'granularity = 1s',
      granularityMs: 1000,
      stats: [
        [trunc1, 1], // activator poke from 0
        [trunc1 + 100, 10], // scrape or activator report in the same second
        [trunc1 + 1000, 1], // next bucket
        [trunc1 + 3000, 1], // a bucket later
      ],
      want: [[trunc1, 11], [trunc1 + 1000, 1], [trunc1 + 3000, 1]],
    },
    {
      name: 'granularity = 5s',
      granularityMs: 5000,
      stats: [[trunc5, 1], [trunc5 + 3000, 11], [trunc5 + 6000, 1]],
      want: [[trunc5, 12], [trunc5 + 5000, 1]],
    },
    { name: 'empty', granularityMs: 1000, stats: [], want: [] },
  ]
  for (const row of rows) {
    const b = new TimedFloat64Buckets(120_000, row.granularityMs)
    t.ok(b.isEmpty(trunc1), `${row.name}: empty before any write`)
    for (const [time, value] of row.stats) b.record(time, value)
    t.same(bucketsOf(b, trunc1 + 60_000), new Map(row.want), row.name)
  }
})

t.test('many records per bucket (TestTimedFloat64BucketsManyReps)', async (t) => {
  let trunc1 = Math.floor(NOW / 1000) * 1000
  const b = new TimedFloat64Buckets(60_000)
  for (let p = 0; p < 5; p++) {
    trunc1 += 1000
    for (let i = 0; i < 5; i++) b.record(trunc1, p + i)
  }
  t.equal(sumOf(b, trunc1), 100)
  t.equal(sumOf(b, trunc1), 100, 'reading does not change the buckets')
})

t.test('many records in non-monotonic order (TestTimedFloat64BucketsManyRepsWithNonMonotonicalOrder)', async (t) => {
  const start = Math.floor(NOW / 1000) * 1000
  let end = start
  const b = new TimedFloat64Buckets(60_000)
  const d = [0, 3, 2, 1, 4]
  for (let p = 0; p < 5; p++) {
    end = start + d[p] * 1000
    for (let i = 0; i < 5; i++) b.record(end, p + i)
  }
  t.equal(sumOf(b, end), 100)
  t.equal(sumOf(b, end), 100)
})

t.test('window average (TestTimedFloat64BucketsWindowAverage)', async (t) => {
  let now = NOW
  const b = new TimedFloat64Buckets(5_000)
  b.record(now, 1)
  t.equal(b.windowAverage(now), 1, 'a young series averages only its own buckets (not 0.2)')
  for (let i = 1; i < 5; i++) b.record(now + i * 1000, i + 1)
  t.equal(b.windowAverage(now + 4000), 15 / 5)
  t.equal(b.windowAverage(now + 3600), 15 / 5, 'now lagging behind the last write')
  t.equal(b.windowAverage(now + 6000), (15 - 1 - 2) / (5 - 2), 'short hole: seconds after the last write are dropped')
  t.equal(b.windowAverage(now + 10_000), 0, 'a whole window without writes')
  b.record(now + 6000, 91)
  t.equal(b.windowAverage(now + 6000), (15 - 1 - 2 + 91) / 5, 'write after a hole')

  now += 60_000
  b.record(now, 1984)
  t.equal(b.windowAverage(now), 1984, 'the series restarts after a long silence')
  b.record(now - 3000, 4)
  t.equal(b.windowAverage(now), (4 + 1984) / 4, 'an earlier write extends the series back')
  now += 1000
  b.record(now, 5)
  t.equal(b.windowAverage(now), (4 + 1984 + 5) / 5)
  b.record(now - 3000, 10)
  t.equal(b.windowAverage(now), (4 + 10 + 1984 + 5) / 5)
  b.record(now - 6000, 10)
  t.equal(b.windowAverage(now), (4 + 10 + 1984 + 5) / 5, 'a write older than the window is ignored')
  b.record(now - 5000, 10)
  t.equal(b.windowAverage(now), (4 + 10 + 1984 + 5) / 5, 'a write exactly a window old is ignored')
  b.record(now + 5000, 10)
  t.equal(b.windowAverage(now + 5000), 10, 'exactly a window of silence clears the data')
})

t.test('descending writes (TestDescendingRecord)', async (t) => {
  const b = new TimedFloat64Buckets(5_000)
  for (let i = 8; i >= 0; i--) b.record(NOW + i * 1000, 5)
  t.equal(b.windowAverage(NOW + 5000), 5)
})

t.test('holes are zeroed (TestTimedFloat64BucketsHoles)', async (t) => {
  const b = new TimedFloat64Buckets(5_000)
  for (let i = 0; i < 5; i++) b.record(NOW + i * 1000, i + 1)
  t.equal(sumOf(b, NOW + 4000), 15)
  t.equal(b.windowAverage(NOW + 4000), 3)
  // Writing at second 8 clears seconds 5..7, which held 1..3 from a lap ago.
  b.record(NOW + 8000, 2)
  t.equal(sumOf(b, NOW + 8000), 7)
})

t.test('resize window (TestTimedFloat64BucketsResizeWindow)', async (t) => {
  const start = NOW
  const b = new TimedFloat64Buckets(5_000)
  for (let i = 0; i < 6; i++) b.record(start + i * 1000, i + 1)
  let now = start + 5000
  const wantInitial = 2 + 3 + 4 + 5 + 6
  t.equal(sumOf(b, now), wantInitial)
  t.equal(b.windowAverage(now), wantInitial / 5)

  b.resizeWindow(10_000, now)
  t.equal(b.size, 10)
  t.equal(b.window, 10_000)
  t.equal(sumOf(b, now), wantInitial, 'values copied')
  t.equal(b.windowAverage(now), wantInitial / 5, 'at most 5 buckets were recorded')

  now += 1000
  b.record(now, 7)
  const wantWithUpdate = wantInitial + 7
  t.equal(sumOf(b, now), wantWithUpdate)
  t.equal(b.windowAverage(now), roundToNDigits(6, wantWithUpdate / 6))

  b.resizeWindow(4_000, now)
  t.equal(b.size, 4)
  const wantWithShrink = wantWithUpdate - 2 - 3
  t.equal(sumOf(b, now), wantWithShrink, 'the two oldest are dropped')
  t.equal(b.windowAverage(now), wantWithShrink / 4)

  b.resizeWindow(4_000, now)
  t.equal(b.size, 4, 'same window: no-op')
  t.equal(sumOf(b, now), wantWithShrink)
})

t.test('resize window with 3s granularity (TestTimedFloat64BucketsWindowUpdate3sGranularity)', async (t) => {
  const trunc1 = Math.floor(NOW / 3000) * 3000
  const b = new TimedFloat64Buckets(5_000, 3_000)
  t.equal(b.size, 2, 'ceil(5/3) buckets')
  b.record(trunc1, 10)
  b.record(trunc1 + 1000, 2)
  b.record(trunc1 + 2000, 3)
  b.record(trunc1 + 3000, 4)
  b.record(trunc1 + 4000, 5)
  b.record(trunc1 + 5000, 6)
  b.record(trunc1 + 6000, 7) // overrides the first bucket (10 + 2 + 3)
  let want = 4 + 5 + 6 + 7
  t.equal(sumOf(b, trunc1 + 6000), want)

  b.resizeWindow(10_000, trunc1 + 6000)
  t.equal(b.size, 4)
  t.equal(b.window, 10_000)
  t.equal(sumOf(b, trunc1 + 6000), want)

  b.record(trunc1 + 9300, 42)
  want += 42
  t.equal(sumOf(b, trunc1 + 9000), want)

  b.resizeWindow(4_000, trunc1 + 9000)
  t.equal(b.size, 2)
  t.equal(sumOf(b, trunc1 + 9000), 42 + 7, 'oldest bucket dropped')
})

t.test('resize after the data went stale resets the series (TestTimedFloat64BucketsWindowUpdateNoOp)', async (t) => {
  const b = new TimedFloat64Buckets(5_000)
  b.record(NOW - 60_000, 19.82)
  b.resizeWindow(10_000, NOW)
  t.equal(b.windowAverage(NOW), 0)
  b.record(NOW, 3)
  t.equal(b.windowAverage(NOW), 3, 'next write starts a fresh series')
})

t.test('resize keeps ring order when indexes are small (clock near 0)', async (t) => {
  const b = new TimedFloat64Buckets(5_000)
  for (let i = 0; i < 3; i++) b.record(i * 1000, i + 1)
  b.resizeWindow(4_000, 2_000)
  t.equal(sumOf(b, 2_000), 6)
  t.equal(b.windowAverage(2_000), 6 / 4, 'Knative resets firstWrite to lastWrite - (oldSize - 1) buckets')
  b.record(3_000, 4)
  t.equal(sumOf(b, 3_000), 10)
})

t.test('roundToNDigits (TestRoundToNDigits)', async (t) => {
  t.equal(roundToNDigits(6, 3.6e-17), 0)
  t.equal(Object.is(roundToNDigits(3, -3.6e-17), 0), true, 'no negative zero')
  t.equal(roundToNDigits(3, 0.0004), 0)
  t.equal(roundToNDigits(3, 1.2345), 1.235)
  t.equal(roundToNDigits(4, 1.2345), 1.2345)
  t.equal(roundToNDigits(6, 12345), 12345)
  t.equal(roundToNDigits(0, -2.5), -3, 'half away from zero, as Go')
})

t.test('rejects a sub-second granularity', async (t) => {
  t.throws(() => new TimedFloat64Buckets(5_000, 500), RangeError)
  t.throws(() => new TimedFloat64Buckets(0), RangeError)
})
