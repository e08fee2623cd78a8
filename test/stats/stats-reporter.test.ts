import t from 'tap'
import { ManualClock } from '../../src/shared/clock.ts'
import { ProxyMetrics } from '../../src/stats/proxy-metrics.ts'
import { NOOP_STATS, RequestStats } from '../../src/stats/request-stats.ts'
import { decodeStat } from '../../src/stats/stat-proto.ts'
import { StatsReporter } from '../../src/stats/stats-reporter.ts'
import { ManualTimers } from '../../src/shared/timers.ts'

t.test('before the first tick latest() carries only the pod name', async (t) => {
  const reporter = new StatsReporter({ podName: 'pod-a', clock: new ManualClock(0) })
  t.same(reporter.latest(), {
    podName: 'pod-a',
    averageConcurrentRequests: 0,
    averageProxiedConcurrentRequests: 0,
    requestCount: 0,
    proxiedRequestCount: 0,
    processUptime: 0,
    timestamp: 0,
  })
  const snap = reporter.snapshot()
  t.ok(snap.protobuf)
  t.same(decodeStat(snap.protobuf ?? Buffer.alloc(0)), reporter.latest())
})

t.test('tick computes concurrency, requests per second and uptime', async (t) => {
  const clock = new ManualClock(10_000)
  const reporter = new StatsReporter({ podName: 'pod-a', clock })
  t.ok(reporter.stats instanceof RequestStats)
  reporter.reqIn(false, clock.nowMs())
  clock.advance(500)
  reporter.reqOut(false, clock.nowMs())
  clock.advance(500)
  reporter.tick()
  t.same(reporter.latest(), {
    podName: 'pod-a',
    averageConcurrentRequests: 0.5,
    averageProxiedConcurrentRequests: 0,
    requestCount: 1,
    proxiedRequestCount: 0,
    processUptime: 1,
    timestamp: 0,
  })
})

t.test('requests per second over several periods, with a proxied split', async (t) => {
  const clock = new ManualClock(0)
  const reporter = new StatsReporter({ podName: 'p', clock })
  const perPeriod = [[5, 2], [0, 0], [12, 12], [3, 0]]
  let uptime = 0
  for (const [total, proxied] of perPeriod) {
    for (let i = 0; i < (total ?? 0); i++) {
      const isProxied = i < (proxied ?? 0)
      reporter.stats.reqIn(isProxied, clock.nowMs())
      reporter.stats.reqOut(isProxied, clock.nowMs())
    }
    clock.advance(1000)
    reporter.tick()
    uptime += 1
    t.equal(reporter.latest().requestCount, total)
    t.equal(reporter.latest().proxiedRequestCount, proxied)
    t.equal(reporter.latest().processUptime, uptime, 'uptime grows')
  }
})

t.test('counts are divided by the configured period (Knative)', async (t) => {
  const clock = new ManualClock(0)
  const reporter = new StatsReporter({ podName: 'p', clock, periodMs: 2000 })
  for (let i = 0; i < 10; i++) reporter.reqIn(true, 0)
  clock.advance(2000)
  reporter.tick()
  t.equal(reporter.latest().requestCount, 5)
  t.equal(reporter.latest().proxiedRequestCount, 5)
  t.equal(reporter.latest().averageConcurrentRequests, 10)
  t.equal(reporter.latest().averageProxiedConcurrentRequests, 10)
  t.equal(reporter.latest().processUptime, 2)
})

t.test('start/stop drive the injected interval timer', async (t) => {
  const clock = new ManualClock(0)
  const timers = new ManualTimers(clock)
  const reporter = new StatsReporter({ podName: 'p', clock, timers })
  reporter.start()
  reporter.start()
  t.equal(timers.size, 1, 'start is idempotent')
  reporter.reqIn(false, 0)
  await timers.advance(999)
  t.equal(reporter.latest().processUptime, 0, 'no period closed before 1000 ms')
  await timers.advance(1)
  t.equal(reporter.latest().averageConcurrentRequests, 1)
  t.equal(reporter.latest().processUptime, 1, 'closed at 1000 ms')
  await timers.advance(1000)
  t.equal(reporter.latest().processUptime, 2, 'and again every 1000 ms')
  reporter.stop()
  t.equal(timers.size, 0)
  await timers.advance(5000)
  t.equal(reporter.latest().processUptime, 2, 'no tick after stop')
  reporter.stop()
})

t.test('the snapshot is rebuilt once per tick and serves the same stat', async (t) => {
  const clock = new ManualClock(0)
  const reporter = new StatsReporter({ podName: 'pod-x', clock, namespace: 'ns', configuration: 'cfg', revision: 'rev' })
  reporter.reqIn(false, 0)
  clock.advance(1000)
  reporter.tick()
  const snap = reporter.snapshot()
  t.equal(reporter.snapshot(), snap, 'scrapes between ticks share one snapshot')
  t.same(decodeStat(snap.protobuf ?? Buffer.alloc(0)), reporter.latest())
  t.match(snap.prometheus.toString(), /queue_average_concurrent_requests\{destination_namespace="ns",destination_configuration="cfg",destination_revision="rev",destination_pod="pod-x"\} 1\n/)
  t.same(reporter.labels, { namespace: 'ns', configuration: 'cfg', revision: 'rev', pod: 'pod-x' })
  clock.advance(1000)
  reporter.tick()
  t.not(reporter.snapshot(), snap)
})

t.test('disabled: NOOP_STATS, zeros, but the period still closes', async (t) => {
  const clock = new ManualClock(0)
  const timers = new ManualTimers(clock)
  const reporter = new StatsReporter({ podName: 'p', clock, enabled: false, timers })
  t.equal(reporter.stats, NOOP_STATS)
  t.equal(reporter.enabled, false)
  reporter.start()
  t.equal(timers.size, 1, 'ticks keep uptime and ProxyMetrics quantiles fresh')
  reporter.reqIn(false, 0)
  await timers.advance(1000)
  t.equal(reporter.latest().averageConcurrentRequests, 0)
  t.equal(reporter.latest().requestCount, 0)
  t.equal(reporter.latest().processUptime, 1)
  reporter.stop()
})

t.test('ticks the ProxyMetrics it was given', async (t) => {
  const clock = new ManualClock(0)
  const proxyMetrics = new ProxyMetrics()
  const reporter = new StatsReporter({ podName: 'p', clock, proxyMetrics })
  proxyMetrics.recordLatencyMs(12)
  t.ok(Number.isNaN(proxyMetrics.latency.quantileMs(0)), 'no quantiles before a tick')
  clock.advance(1000)
  reporter.tick()
  const p50 = proxyMetrics.latency.quantileMs(0)
  t.ok(Math.abs(p50 - 12) <= 12 * 0.001, `p50 ${p50} within 0.1% of 12`)
})

t.test('rejects a non-positive period at construction', async (t) => {
  t.throws(() => new StatsReporter({ podName: 'p', periodMs: 0 }), RangeError)
})

t.test('default timers run on real time and can be stopped', async (t) => {
  const reporter = new StatsReporter({ podName: 'p', periodMs: 5 })
  reporter.start()
  await new Promise((resolve) => setTimeout(resolve, 30))
  reporter.stop()
  t.ok(reporter.latest().processUptime > 0)
})
