// BucketHistogram: Prometheus's fixed-bucket histogram (the activator's cold-start durations).
// Bucket semantics are Prometheus's: an observation counts in every bucket whose upper bound
// (le) is >= it, so a value equal to a bound lands in that bound's bucket.
import t from 'tap'
import { BucketHistogram, COLD_START_BUCKETS_SECONDS } from '../../src/stats/bucket-histogram.ts'

t.test('refuses bounds that do not ascend', async (t) => {
  t.throws(() => new BucketHistogram([1, 1]), RangeError)
  t.throws(() => new BucketHistogram([2, 1]), RangeError)
  t.doesNotThrow(() => new BucketHistogram([]))
  t.doesNotThrow(() => new BucketHistogram(COLD_START_BUCKETS_SECONDS))
})

t.test('observations land in the first bucket whose bound is >= them; counts are cumulative', async (t) => {
  const h = new BucketHistogram([1, 5, 10])
  for (const v of [0, 1, 1.5, 5, 10, 11, 1_000]) h.observe(v)
  t.equal(h.count, 7)
  t.equal(h.sum, 1_028.5)
  t.same([0, 1, 2, 3].map((i) => h.cumulative(i)), [2, 4, 5, 7], 'le=1: 0 and 1; le=5: +1.5, 5; le=10: +10; +Inf: all')
  t.equal(h.cumulative(99), 7, 'past the end: all')
})

t.test('renders Prometheus sample lines with labels, +Inf, _sum and _count', async (t) => {
  const h = new BucketHistogram([0.5, 1])
  h.observe(0.25)
  h.observe(2)
  t.equal(h.render('cold_start_seconds', 'namespace="a",revision="b"'), [
    'cold_start_seconds_bucket{namespace="a",revision="b",le="0.5"} 1',
    'cold_start_seconds_bucket{namespace="a",revision="b",le="1"} 1',
    'cold_start_seconds_bucket{namespace="a",revision="b",le="+Inf"} 2',
    'cold_start_seconds_sum{namespace="a",revision="b"} 2.25',
    'cold_start_seconds_count{namespace="a",revision="b"} 2',
    '',
  ].join('\n'))
})

t.test('renders without labels', async (t) => {
  const h = new BucketHistogram([1])
  t.equal(h.render('x', ''), 'x_bucket{le="1"} 0\nx_bucket{le="+Inf"} 0\nx_sum 0\nx_count 0\n')
})
