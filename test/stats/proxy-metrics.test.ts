import t from 'tap'
import { buildLatencyHistogram, LatencySummary, MAX_RECORDABLE_MS, SUMMARY_QUANTILES } from '../../src/stats/latency-summary.ts'
import { ProxyMetrics } from '../../src/stats/proxy-metrics.ts'

function near (actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= expected * 0.001 + 0.001
}

t.test('quantiles exist only after a tick and are NaN while the window is empty', async (t) => {
  const s = new LatencySummary(60_000)
  const scratch = buildLatencyHistogram()
  t.same(SUMMARY_QUANTILES, [0.5, 0.9, 0.99, 0.999])
  s.tick(0, scratch)
  t.ok(Number.isNaN(s.quantileMs(0)))
  s.record(10)
  t.ok(Number.isNaN(s.quantileMs(0)), 'cached until the next tick')
  s.tick(1000, scratch)
  t.ok(near(s.quantileMs(0), 10))
  t.ok(Number.isNaN(s.quantileMs(99)), 'out of range index')
})

t.test('sliding window: data leaves the quantiles after one to two half windows; count and sum stay', async (t) => {
  const s = new LatencySummary(10_000)
  const scratch = buildLatencyHistogram()
  s.tick(0, scratch)
  s.record(100)
  s.tick(1000, scratch)
  t.ok(near(s.quantileMs(3), 100))
  s.tick(5000, scratch) // rotate: 100 ms moves to the previous half, still in the window
  t.ok(near(s.quantileMs(3), 100))
  s.record(1)
  s.tick(6000, scratch)
  t.ok(near(s.quantileMs(0), 1), 'p50 of {1, 100}')
  t.ok(near(s.quantileMs(3), 100), 'p999 of {1, 100}')
  s.tick(10_000, scratch) // rotate again: the 100 ms sample is gone
  t.ok(near(s.quantileMs(3), 1))
  s.tick(15_000, scratch)
  t.ok(Number.isNaN(s.quantileMs(0)), 'empty after a full window without data')
  t.equal(s.count, 2)
  t.equal(s.sumMs, 101)
})

t.test('recording never throws: negative, NaN, huge and fractional values are clamped', async (t) => {
  const s = new LatencySummary()
  const scratch = buildLatencyHistogram()
  s.record(-5)
  s.record(Number.NaN)
  s.record(Number.POSITIVE_INFINITY)
  s.record(1e12)
  s.record(0.0004) // below 1 µs: rounds to 0
  s.tick(0, scratch)
  t.equal(s.count, 5)
  t.equal(s.sumMs, 2 * MAX_RECORDABLE_MS + 0.0004)
  t.ok(near(s.quantileMs(3), MAX_RECORDABLE_MS))
  t.equal(s.quantileMs(0), 0)
})

t.test('sub-millisecond precision survives (recorded in microseconds)', async (t) => {
  const s = new LatencySummary()
  const scratch = buildLatencyHistogram()
  for (let i = 0; i < 100; i++) s.record(0.25)
  s.tick(0, scratch)
  t.equal(s.quantileMs(2), 0.25)
})

t.test('ProxyMetrics counters and gauges', async (t) => {
  const m = new ProxyMetrics()
  t.same(m.gauges(), { inFlight: 0, queueDepth: 0 }, 'default gauges are zero')
  m.incOverflow503()
  m.incUpstream502()
  m.incUpstream502()
  m.incTimeout504()
  for (const code of [100, 200, 201, 301, 404, 500, 503, 600, 0, -1]) m.incResponse(code)
  t.equal(m.overflow503, 1)
  t.equal(m.upstream502, 2)
  t.equal(m.timeout504, 1)
  t.same([m.responses(0), m.responses(1), m.responses(2), m.responses(3), m.responses(4), m.responses(5)], [3, 1, 2, 1, 1, 2])
})

t.test('ProxyMetrics routes each record method to its own summary and ticks all three', async (t) => {
  const m = new ProxyMetrics({ quantileWindowMs: 1000 })
  m.recordLatencyMs(30)
  m.recordQueueWaitMs(10)
  m.recordUpstreamFirstByteMs(20)
  m.tick(0)
  t.ok(near(m.latency.quantileMs(0), 30))
  t.ok(near(m.queueWait.quantileMs(0), 10))
  t.ok(near(m.upstreamFirstByte.quantileMs(0), 20))
  t.equal(m.latency.count + m.queueWait.count + m.upstreamFirstByte.count, 3)
})
