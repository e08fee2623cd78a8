import t from 'tap'
import { MetricCollector, NO_DATA, type CollectorStat } from '../../src/autoscaler/metric-collector.ts'

function stat (over: Partial<CollectorStat>): CollectorStat {
  return { averageConcurrentRequests: 0, averageProxiedConcurrentRequests: 0, requestCount: 0, proxiedRequestCount: 0, ...over }
}

t.test('records concurrency and RPS minus what activators already counted', async (t) => {
  const c = new MetricCollector({ stableWindowMs: 60_000, panicWindowMs: 6_000 })
  // A pod scrape: 10 in flight, 4 of them proxied by an activator (which reports them itself).
  c.record(1_000, stat({ averageConcurrentRequests: 10, averageProxiedConcurrentRequests: 4, requestCount: 30, proxiedRequestCount: 12 }))
  // The activator's own report in the same second adds up.
  c.record(1_500, stat({ averageConcurrentRequests: 4, requestCount: 12 }))
  t.same(c.stableAndPanicConcurrency(1_900), { stable: 10, panic: 10 })
  t.same(c.stableAndPanicRPS(1_900), { stable: 30, panic: 30 })
})

t.test('stable and panic windows average differently', async (t) => {
  const c = new MetricCollector({ stableWindowMs: 60_000, panicWindowMs: 6_000 })
  for (let s = 0; s < 60; s++) c.record(s * 1000, stat({ averageConcurrentRequests: s < 54 ? 1 : 10, requestCount: s < 54 ? 2 : 20 }))
  const conc = c.stableAndPanicConcurrency(59_000)
  t.not(conc, NO_DATA)
  if (conc !== NO_DATA) {
    t.equal(conc.stable, (54 * 1 + 6 * 10) / 60)
    t.equal(conc.panic, 10)
  }
  const rps = c.stableAndPanicRPS(59_000)
  if (rps !== NO_DATA) {
    t.equal(rps.stable, (54 * 2 + 6 * 20) / 60)
    t.equal(rps.panic, 20)
  }
})

t.test('NO_DATA when nothing was recorded within the stable window', async (t) => {
  const c = new MetricCollector({ stableWindowMs: 10_000, panicWindowMs: 1_000 })
  t.equal(c.stableAndPanicConcurrency(0), NO_DATA, 'never recorded')
  t.equal(c.stableAndPanicRPS(0), NO_DATA)
  c.record(5_000, stat({ averageConcurrentRequests: 3, requestCount: 3 }))
  t.same(c.stableAndPanicConcurrency(15_000), { stable: 0, panic: 0 }, 'exactly one window later: not no-data, but averages to 0')
  t.equal(c.stableAndPanicConcurrency(16_000), NO_DATA, 'more than a window later')
  t.equal(c.stableAndPanicRPS(16_000), NO_DATA)
})

t.test('without a scrape target (TBC -1) silence is zero load, not missing data', async (t) => {
  const c = new MetricCollector({ stableWindowMs: 10_000, panicWindowMs: 1_000, hasScrapeTarget: false })
  t.same(c.stableAndPanicConcurrency(0), { stable: 0, panic: 0 })
  t.same(c.stableAndPanicRPS(50_000), { stable: 0, panic: 0 })
})

t.test('weighted-exponential aggregation favours recent data', async (t) => {
  const linear = new MetricCollector({ stableWindowMs: 10_000, panicWindowMs: 2_000 })
  const weighted = new MetricCollector({ stableWindowMs: 10_000, panicWindowMs: 2_000, aggregationAlgorithm: 'weighted-exponential' })
  for (let s = 0; s < 10; s++) {
    const st = stat({ averageConcurrentRequests: s < 8 ? 0 : 10 })
    linear.record(s * 1000, st)
    weighted.record(s * 1000, st)
  }
  const l = linear.stableAndPanicConcurrency(9_000)
  const w = weighted.stableAndPanicConcurrency(9_000)
  t.ok(l !== NO_DATA && w !== NO_DATA && w.stable > l.stable, 'the recent burst weighs more')
})

t.test('update resizes the windows and keeps recent data', async (t) => {
  const c = new MetricCollector({ stableWindowMs: 10_000, panicWindowMs: 1_000 })
  for (let s = 0; s < 10; s++) c.record(s * 1000, stat({ averageConcurrentRequests: s + 1 }))
  c.update({ stableWindowMs: 6_000, panicWindowMs: 2_000 }, 9_000)
  const r = c.stableAndPanicConcurrency(9_000)
  // The 1-bucket panic ring only held the newest second, so the grown window starts from it.
  t.same(r, { stable: (5 + 6 + 7 + 8 + 9 + 10) / 6, panic: 10 })
  c.update({ stableWindowMs: 6_000, panicWindowMs: 2_000, hasScrapeTarget: false }, 9_000)
  t.same(c.stableAndPanicConcurrency(100_000), { stable: 0, panic: 0 }, 'scrape target dropped')
})
