import t from 'tap'
import { newStatWindow, NOOP_STATS, RequestStats } from '../../src/stats/request-stats.ts'

const PERIOD_MS = 1000

t.test('one request held for exactly half a period averages 0.5', async (t) => {
  const stats = new RequestStats(0)
  const w = newStatWindow()
  stats.reqIn(false, 0)
  stats.reqOut(false, 500)
  stats.report(PERIOD_MS, w)
  t.equal(w.averageConcurrency, 0.5)
  t.equal(w.requestCount, 1)
  t.equal(w.averageProxiedConcurrency, 0)
  t.equal(w.proxiedRequestCount, 0)
})

t.test('10 requests in flight for the whole period average 10', async (t) => {
  const stats = new RequestStats(0)
  const w = newStatWindow()
  for (let i = 0; i < 10; i++) stats.reqIn(false, 0)
  stats.report(PERIOD_MS, w)
  t.equal(w.averageConcurrency, 10)
  t.equal(w.requestCount, 10)
  // Still in flight: the next period (no arrivals) averages 10 with a count of 0.
  stats.report(2 * PERIOD_MS, w)
  t.equal(w.averageConcurrency, 10)
  t.equal(w.requestCount, 0)
  t.equal(stats.inFlight, 10)
})

t.test('two requests of 500 ms in one second average 1.0 (Knative doc example)', async (t) => {
  const stats = new RequestStats(0)
  const w = newStatWindow()
  stats.reqIn(false, 0)
  stats.reqOut(false, 500)
  stats.reqIn(false, 500)
  stats.reqOut(false, 1000)
  stats.report(PERIOD_MS, w)
  t.equal(w.averageConcurrency, 1)
  t.equal(w.requestCount, 2)
})

t.test('a request of 100 ms in a 1 s period counts 0.1', async (t) => {
  const stats = new RequestStats(0)
  const w = newStatWindow()
  stats.reqIn(false, 200)
  stats.reqOut(false, 300)
  stats.report(PERIOD_MS, w)
  t.equal(w.averageConcurrency, 0.1)
})

t.test('proxied requests are a subset of all requests', async (t) => {
  const stats = new RequestStats(0)
  const w = newStatWindow()
  stats.reqIn(true, 0) // proxied, whole period
  stats.reqIn(false, 0) // direct, half period
  stats.reqOut(false, 500)
  stats.reqIn(true, 500) // proxied, half period
  t.equal(stats.inFlight, 2)
  t.equal(stats.proxiedInFlight, 2)
  stats.reqOut(true, 1000)
  stats.report(PERIOD_MS, w)
  t.equal(w.averageConcurrency, 2)
  t.equal(w.averageProxiedConcurrency, 1.5)
  t.equal(w.requestCount, 3)
  t.equal(w.proxiedRequestCount, 2)
  t.equal(stats.inFlight, 1)
  t.equal(stats.proxiedInFlight, 1)
})

t.test('a request spanning two periods counts in both averages but once in requestCount', async (t) => {
  const stats = new RequestStats(0)
  const w = newStatWindow()
  stats.reqIn(false, 750)
  stats.report(1000, w)
  t.equal(w.averageConcurrency, 0.25)
  t.equal(w.requestCount, 1)
  stats.reqOut(false, 1500)
  stats.report(2000, w)
  t.equal(w.averageConcurrency, 0.5)
  t.equal(w.requestCount, 0)
})

t.test('report resets the window but keeps in-flight state', async (t) => {
  const stats = new RequestStats(0)
  const w = newStatWindow()
  stats.reqIn(true, 0)
  stats.reqIn(false, 0)
  stats.report(1000, w)
  t.same(w, { averageConcurrency: 2, averageProxiedConcurrency: 1, requestCount: 2, proxiedRequestCount: 1 })
  stats.reqOut(true, 1000)
  stats.reqOut(false, 1000)
  stats.report(2000, w)
  t.same(w, { averageConcurrency: 0, averageProxiedConcurrency: 0, requestCount: 0, proxiedRequestCount: 0 })
  // A report with no time elapsed (Knative: secondsInUse == 0) reports zeros rather than NaN.
  stats.report(2000, w)
  t.same(w, { averageConcurrency: 0, averageProxiedConcurrency: 0, requestCount: 0, proxiedRequestCount: 0 })
})

t.test('the average divides by the time the window covered, not the nominal period', async (t) => {
  // Knative divides the area by secondsInUse: a late tick (1.5 s) with 1 request throughout still gives 1.
  const stats = new RequestStats(0)
  const w = newStatWindow()
  stats.reqIn(false, 0)
  stats.report(1500, w)
  t.equal(w.averageConcurrency, 1)
})

t.test('events with an earlier time than the last change add no negative area', async (t) => {
  const stats = new RequestStats(1000)
  const w = newStatWindow()
  stats.reqIn(false, 900) // before construction time: state changes, no area
  stats.report(2000, w)
  t.equal(w.averageConcurrency, 1)
  t.equal(w.requestCount, 1)
})

t.test('the first window starts at construction time', async (t) => {
  const stats = new RequestStats(500)
  const w = newStatWindow()
  stats.reqIn(false, 500)
  stats.reqOut(false, 750)
  stats.report(1000, w)
  t.equal(w.averageConcurrency, 0.5)
})

t.test('NOOP_STATS does nothing and reports zeros', async (t) => {
  const w = newStatWindow()
  w.averageConcurrency = 7
  w.requestCount = 3
  NOOP_STATS.reqIn(true, 0)
  NOOP_STATS.reqOut(true, 10)
  NOOP_STATS.report(1000, w)
  t.same(w, { averageConcurrency: 0, averageProxiedConcurrency: 0, requestCount: 0, proxiedRequestCount: 0 })
  t.equal(NOOP_STATS.inFlight, 0)
  t.equal(NOOP_STATS.proxiedInFlight, 0)
  t.ok(Object.isFrozen(NOOP_STATS))
})
