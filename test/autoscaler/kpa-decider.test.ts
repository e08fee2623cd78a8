// Replays Knative's pkg/autoscaler/scaling/autoscaler_test.go against KpaDecider, plus the
// activator count and the seed example from the issue (35 req/s x 0.25 s at target 1 -> 9 pods).
import t from 'tap'
import { ManualClock } from '../../src/shared/clock.ts'
import {
  KpaDecider, computeNumActivators, initialExcessBurstCapacity,
  type KpaDeciderSpec, type ScaleResult,
} from '../../src/autoscaler/kpa-decider.ts'
import { MetricCollector, NO_DATA, type NoData, type StableAndPanic } from '../../src/autoscaler/metric-collector.ts'
import { parseAutoscalerConfig, type AutoscalerConfig } from '../../src/autoscaler/autoscaler-config.ts'
import { makeDeciderSpec, type DeciderSpec } from '../../src/autoscaler/decider-spec.ts'

const STABLE_WINDOW_MS = 60_000
const TARGET_UTILIZATION = 0.75
const ACTIVATOR_CAPACITY = 150

/** Knative's metricClient fake: fixed values, optionally no data. */
class FakeMetrics {
  stableConcurrency = 0
  panicConcurrency = 0
  stableRPS = 0
  panicRPS = 0
  noData = false
  setConcurrency (stable: number, panic: number): void {
    this.stableConcurrency = stable
    this.panicConcurrency = panic
  }

  stableAndPanicConcurrency (): StableAndPanic | NoData {
    return this.noData ? NO_DATA : { stable: this.stableConcurrency, panic: this.panicConcurrency }
  }

  stableAndPanicRPS (): StableAndPanic | NoData {
    return this.noData ? NO_DATA : { stable: this.stableRPS, panic: this.panicRPS }
  }
}

/** Knative's newTestAutoscalerWithScalingMetric spec: 75% utilization, panic at 2x, rates 10. */
function testSpec (targetValue: number, tbc: number, over: Partial<KpaDeciderSpec> = {}): KpaDeciderSpec {
  return {
    scalingMetric: 'concurrency',
    targetValue,
    totalValue: targetValue / TARGET_UTILIZATION,
    targetBurstCapacity: tbc,
    activatorCapacity: ACTIVATOR_CAPACITY,
    panicThreshold: 2,
    maxScaleUpRate: 10,
    maxScaleDownRate: 10,
    stableWindowMs: STABLE_WINDOW_MS,
    scaleDownDelayMs: 0,
    reachable: true,
    activationScale: 0,
    ...over,
  }
}

function expectedEBC (totCap: number, targetBC: number, recorded: number, numPods: number): number {
  return Math.floor(totCap / TARGET_UTILIZATION * numPods - targetBC - recorded)
}

interface Want { desired: number, ebc: number, valid?: boolean }

/** The assertions the helpers use; any tap Test provides them. */
type Asserts = Pick<typeof t, 'equal'>

function check (t: Asserts, got: ScaleResult, want: Want, msg = ''): void {
  t.equal(got.scaleValid, want.valid ?? true, `${msg} scaleValid`)
  t.equal(got.desiredPodCount, want.desired, `${msg} desiredPodCount`)
  t.equal(got.excessBurstCapacity, want.ebc, `${msg} excessBurstCapacity`)
}

function newDecider (spec: KpaDeciderSpec, metrics: FakeMetrics, readyPods = 1, clock = new ManualClock(1_000_000)): KpaDecider {
  return new KpaDecider({ spec, metrics, readyPods, clock })
}

t.test('scale table (TestAutoscalerScale)', async (t) => {
  interface Row {
    label: string
    target: number
    tbc: number
    stable: number
    panic: number
    readyPods: number
    spec?: Partial<KpaDeciderSpec>
    /** Start in panic (readyPods > 1) and decide this long after creation. */
    panicAgoMs?: number
    want: Want
  }
  const rows: Row[] = [
    { label: 'no data at zero, no autoscale', target: 10, tbc: 100, stable: 0, panic: 0, readyPods: 1, want: { desired: 0, ebc: expectedEBC(10, 100, 0, 1) } },
    { label: 'stable mode, unlimited TBC', target: 181, tbc: -1, stable: 21, panic: 26, readyPods: 1, want: { desired: 1, ebc: -1 } },
    { label: '0 TBC', target: 10, tbc: 0, stable: 50, panic: 49, readyPods: 1, want: { desired: 5, ebc: 0 } },
    { label: 'stable mode, no change', target: 10, tbc: 100, stable: 50, panic: 50, readyPods: 1, want: { desired: 5, ebc: expectedEBC(10, 100, 50, 1) } },
    {
      label: 'panic, stable larger than panic: stable wins', target: 1, tbc: 100, stable: 50, panic: 30, readyPods: 5, panicAgoMs: 5_000,
      want: { desired: 50, ebc: expectedEBC(1, 100, 30, 5) },
    },
    {
      label: 'panic, stable less than panic: panic wins', target: 1, tbc: 100, stable: 20, panic: 30, readyPods: 5, panicAgoMs: 5_000,
      want: { desired: 30, ebc: expectedEBC(1, 100, 30, 5) },
    },
    { label: 'stable mode, no change, already scaled', target: 10, tbc: 100, stable: 50, panic: 50, readyPods: 5, want: { desired: 5, ebc: expectedEBC(10, 100, 50, 5) } },
    {
      label: 'small scale-up rate still grows by one pod', target: 1, tbc: 1982, stable: 3, panic: 3.1, readyPods: 2, spec: { maxScaleUpRate: 1.1 },
      want: { desired: 3, ebc: expectedEBC(1, 1982, 3.1, 2) },
    },
    {
      label: 'small scale-down rate limits the decrease', target: 10, tbc: 1982, stable: 1, panic: 1, readyPods: 100, spec: { maxScaleDownRate: 1.1 },
      want: { desired: 90, ebc: expectedEBC(10, 1982, 1, 100) },
    },
    {
      label: 'unreachable revision is not rate limited down', target: 10, tbc: 1982, stable: 1, panic: 1, readyPods: 100, spec: { maxScaleDownRate: 1.1, reachable: false },
      want: { desired: 1, ebc: expectedEBC(10, 1982, 1, 100) },
    },
    { label: 'panic mode doubles the pod count', target: 10, tbc: 84, stable: 50, panic: 100, readyPods: 1, want: { desired: 10, ebc: expectedEBC(10, 84, 100, 1) } },
  ]
  for (const row of rows) {
    t.test(row.label, async (t) => {
      const metrics = new FakeMetrics()
      metrics.setConcurrency(row.stable, row.panic)
      const clock = new ManualClock(1_000_000)
      // Knative's prepFunc sets panicTime/maxPanicPods directly; starting with that many ready
      // pods puts the decider in exactly that state through the public API.
      const d = newDecider(testSpec(row.target, row.tbc, row.spec), metrics, row.panicAgoMs === undefined ? 1 : row.readyPods, clock)
      if (row.panicAgoMs !== undefined) {
        t.ok(d.panicMode)
        t.equal(d.maxPanicPods, row.readyPods)
        clock.advance(row.panicAgoMs)
      }
      check(t, d.scale(clock.nowMs(), row.readyPods), row.want)
    })
  }
})

t.test('no data: no decision (TestAutoscalerNoDataNoAutoscale)', async (t) => {
  const metrics = new FakeMetrics()
  metrics.noData = true
  const d = newDecider(testSpec(10, 100), metrics)
  const r = d.scale(0, 1)
  t.equal(r.scaleValid, false)
  t.equal(r.desiredPodCount, -1)
  t.equal(r.excessBurstCapacity, 0)
  t.equal(r.panicMode, false)
})

t.test('stable mode increase with concurrency default', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(50, 10)
  const d = newDecider(testSpec(10, 101), m)
  check(t, d.scale(0, 1), { desired: 5, ebc: expectedEBC(10, 101, 10, 1) })
  m.stableConcurrency = 100
  check(t, d.scale(0, 1), { desired: 10, ebc: expectedEBC(10, 101, 10, 1) })
})

t.test('stable mode increase with RPS', async (t) => {
  const m = new FakeMetrics()
  m.stableRPS = 50
  m.panicRPS = 50
  const d = newDecider(testSpec(10, 101, { scalingMetric: 'rps' }), m)
  check(t, d.scale(0, 1), { desired: 5, ebc: expectedEBC(10, 101, 50, 1) })
  m.stableRPS = 100
  m.panicRPS = 99
  const r = d.scale(0, 1)
  check(t, r, { desired: 10, ebc: expectedEBC(10, 101, 99, 1) })
  t.equal(r.observedStable, 100)
  t.equal(r.observedPanic, 99)
})

t.test('RPS metric ignores concurrency (TestAutoscalerMetricsWithRPS)', async (t) => {
  const m = new FakeMetrics()
  m.stableRPS = 100
  m.panicRPS = 99
  m.setConcurrency(1e6, 1e6)
  const d = newDecider(testSpec(10, 100, { scalingMetric: 'rps' }), m)
  const r = d.scale(61_000, 1)
  check(t, r, { desired: 10, ebc: expectedEBC(10, 100, 99, 1) })
  t.equal(r.panicMode, true)
})

t.test('un-panic after a slow increase (TestAutoscalerUnpanicAfterSlowIncrease)', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(11, 25)
  const d = newDecider(testSpec(1, 98), m)
  const start = 1_000_000
  check(t, d.scale(start, 10), { desired: 25, ebc: expectedEBC(1, 98, 25, 10) })
  t.equal(d.panicTimeMs, start)

  // Half a stable window later, +1 pod per tick: 40 ready. Under the threshold, still panicking.
  m.setConcurrency(30, 41)
  let tm = start + STABLE_WINDOW_MS / 2
  check(t, d.scale(tm, 40), { desired: 41, ebc: expectedEBC(1, 98, 41, 40) })
  t.equal(d.panicTimeMs, start, 'panic time does not move')

  // A full stable window since the panic started (plus a tick): panic ends.
  m.setConcurrency(50, 56)
  tm += STABLE_WINDOW_MS / 2 + 2_000
  const r = d.scale(tm, 55)
  check(t, r, { desired: 50, ebc: expectedEBC(1, 98, 56, 55) })
  t.equal(d.panicTimeMs, null)
  t.equal(r.panicMode, false)
})

t.test('still over the threshold extends panic (TestAutoscalerExtendPanicWindow)', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(11, 25)
  const d = newDecider(testSpec(1, 98), m)
  const start = 1_000_000
  check(t, d.scale(start, 10), { desired: 25, ebc: expectedEBC(1, 98, 25, 10) })
  t.equal(d.panicTimeMs, start)
  m.setConcurrency(30, 80)
  const tm = start + STABLE_WINDOW_MS / 2
  check(t, d.scale(tm, 40), { desired: 80, ebc: expectedEBC(1, 98, 80, 40) })
  t.equal(d.panicTimeMs, tm)
})

t.test('stable mode decrease', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(100, 100)
  const d = newDecider(testSpec(10, 98), m)
  check(t, d.scale(0, 8), { desired: 10, ebc: expectedEBC(10, 98, 100, 8) })
  m.setConcurrency(50, 50)
  check(t, d.scale(0, 8), { desired: 5, ebc: expectedEBC(10, 98, 50, 8) })
})

t.test('no traffic scales to zero', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(1, 0)
  const d = newDecider(testSpec(10, 75), m)
  check(t, d.scale(0, 1), { desired: 1, ebc: expectedEBC(10, 75, 0, 1) })
  m.stableConcurrency = 0
  check(t, d.scale(0, 1), { desired: 0, ebc: expectedEBC(10, 75, 0, 1) })
})

t.test('activation scale lifts any non-zero demand (TestAutoscalerActivationScale)', async (t) => {
  const m = new FakeMetrics()
  const d = newDecider(testSpec(10, 75, { activationScale: 2 }), m)
  check(t, d.scale(0, 1), { desired: 0, ebc: expectedEBC(10, 75, 0, 1) }, 'zero demand stays 0')
  m.stableConcurrency = 1
  check(t, d.scale(0, 1), { desired: 2, ebc: expectedEBC(10, 75, 0, 1) }, 'one request -> activation scale')

  // The panic count is lifted too (the threshold still uses the raw count: 3 / 1 pod >= 2).
  const p = newDecider(testSpec(10, 75, { activationScale: 5 }), m)
  m.setConcurrency(0, 21)
  const r = p.scale(0, 1)
  t.equal(r.panicMode, true)
  t.equal(r.desiredPodCount, 5, 'panic count 3 lifted to activation scale 5')
})

t.test('exponential growth is tracked in panic and stabilises', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(6, 6)
  const d = newDecider(testSpec(1, 101), m)
  check(t, d.scale(0, 1), { desired: 6, ebc: expectedEBC(1, 101, 6, 1) })
  let tm = 1_000_000
  m.setConcurrency(36, 36)
  check(t, d.scale(tm, 6), { desired: 36, ebc: expectedEBC(1, 101, 36, 6) })
  t.equal(d.panicTimeMs, tm)
  m.setConcurrency(216, 216)
  tm += 1_000
  check(t, d.scale(tm, 36), { desired: 216, ebc: expectedEBC(1, 101, 216, 36) })
  t.equal(d.panicTimeMs, tm)
  m.setConcurrency(1296, 1296)
  check(t, d.scale(tm, 216), { desired: 1296, ebc: expectedEBC(1, 101, 1296, 216) })
  t.equal(d.panicTimeMs, tm)
  tm += 1_000
  check(t, d.scale(tm, 1296), { desired: 1296, ebc: expectedEBC(1, 101, 1296, 1296) })
})

t.test('panic then un-panic scales down (TestAutoscalerPanicThenUnPanicScaleDown)', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(100, 100)
  const d = newDecider(testSpec(10, 93), m)
  const t0 = 1_000_000
  check(t, d.scale(t0, 1), { desired: 10, ebc: expectedEBC(10, 93, 100, 1) })
  m.panicConcurrency = 1000
  check(t, d.scale(t0, 10), { desired: 100, ebc: expectedEBC(10, 93, 1000, 10) })
  // Traffic drops, but panic holds the count.
  m.setConcurrency(1, 1)
  check(t, d.scale(t0 + 30_000, 10), { desired: 100, ebc: expectedEBC(10, 93, 1, 10) })
  t.equal(d.panicMode, true)
  // After the stable window: scale down (rate limited by 10 ready pods / 10 -> 1).
  check(t, d.scale(t0 + 61_000, 10), { desired: 1, ebc: expectedEBC(10, 93, 1, 10) })
  t.equal(d.panicMode, false)
  t.equal(d.maxPanicPods, 0)
})

t.test('panic ends only strictly after panicTime + stable window', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(100, 100)
  const d = newDecider(testSpec(10, 93), m)
  d.scale(0, 1)
  t.equal(d.panicTimeMs, 0)
  m.setConcurrency(1, 1)
  t.equal(d.scale(STABLE_WINDOW_MS, 10).panicMode, true, 'at exactly the window: still panic')
  t.equal(d.scale(STABLE_WINDOW_MS + 1, 10).panicMode, false)
})

t.test('max scale-up rate (TestAutoscalerRateLimitScaleUp)', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(1000, 1001)
  const d = newDecider(testSpec(10, 61), m)
  check(t, d.scale(0, 1), { desired: 10, ebc: expectedEBC(10, 61, 1001, 1) }, 'need 100, only x10')
  check(t, d.scale(0, 10), { desired: 100, ebc: expectedEBC(10, 61, 1001, 10) }, 'x10 again')
})

t.test('max scale-down rate (TestAutoscalerRateLimitScaleDown)', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(1, 1)
  const d = newDecider(testSpec(10, 61), m)
  check(t, d.scale(0, 100), { desired: 10, ebc: expectedEBC(10, 61, 1, 100) }, 'need 1, only /10')
  check(t, d.scale(0, 10), { desired: 1, ebc: expectedEBC(10, 61, 1, 10) }, '/10 again')
})

t.test('zero ready pods count as one for rates (TestAutoscalerUseOnePodAsMinimumIfEndpointsNotFound)', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(1000, 888)
  const d = newDecider(testSpec(10, 81), m)
  const r = d.scale(0, 0)
  check(t, r, { desired: 10, ebc: expectedEBC(10, 81, 888, 0) })
})

t.test('update replaces the spec (TestAutoscalerUpdateTarget)', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(100, 101)
  const d = newDecider(testSpec(10, 77), m)
  check(t, d.scale(0, 1), { desired: 10, ebc: expectedEBC(10, 77, 101, 1) })
  d.update({
    ...testSpec(1, 71),
    activatorCapacity: 21,
  })
  check(t, d.scale(0, 10), { desired: 100, ebc: expectedEBC(1, 71, 101, 10) })
})

t.test('starts in panic with more than one ready pod (TestStartInPanicMode)', async (t) => {
  const m = new FakeMetrics()
  m.setConcurrency(10, 10)
  const spec = testSpec(100, 11, { totalValue: 120, panicThreshold: 220 })
  const clock = new ManualClock(5_000)
  for (const ready of [0, 1]) {
    const d = new KpaDecider({ spec, metrics: m, readyPods: ready, clock })
    t.equal(d.panicMode, false, `created at ${ready} pods: not panicking`)
    t.equal(d.maxPanicPods, ready)
  }
  const d = new KpaDecider({ spec, metrics: m, readyPods: 2, clock })
  t.equal(d.panicMode, true, 'created at 2 pods: panicking')
  t.equal(d.panicTimeMs, 5_000, 'panic time from the injected clock')
  t.equal(d.maxPanicPods, 2)
  const noCount = new KpaDecider({ spec, metrics: m, clock })
  t.equal(noCount.maxPanicPods, 0, 'unknown ready count (TestNewFail)')
  t.equal(noCount.panicMode, false)
})

t.test('starting in panic keeps the current scale after a restart until a stable window passes', async (t) => {
  const m = new FakeMetrics()
  const clock = new ManualClock(0)
  const d = new KpaDecider({ spec: testSpec(10, 100, { maxScaleDownRate: 2 }), metrics: m, readyPods: 8, clock })
  t.equal(d.scale(2_000, 8).desiredPodCount, 8, 'no data yet: hold 8')
  t.equal(d.scale(60_000, 8).desiredPodCount, 8)
  const r = d.scale(60_001, 8)
  t.equal(r.panicMode, false)
  t.equal(r.desiredPodCount, 4, 'then scale down, rate limited')
})

t.test('scale-down delay (TestAutoscalerScaleDownDelay)', async (t) => {
  const spec = testSpec(10, 100, { panicThreshold: 100, scaleDownDelayMs: 300_000 })
  const m = new FakeMetrics()
  const d = newDecider(spec, m, 0)
  const now = 0
  // simple
  m.setConcurrency(40, 40)
  t.equal(d.scale(now + 2_000, 0).desiredPodCount, 4, 'scale up')
  m.setConcurrency(0, 0)
  t.equal(d.scale(now + 300_000, 0).desiredPodCount, 4, 'within the delay: hold')
  t.equal(d.scale(now + 302_000, 0).desiredPodCount, 0, 'delay passed: scale down')
  // gradual
  m.setConcurrency(40, 40)
  t.equal(d.scale(now + 540_000, 0).desiredPodCount, 4)
  m.setConcurrency(30, 30)
  t.equal(d.scale(now + 600_000, 0).desiredPodCount, 4, '4 still dominates')
  m.setConcurrency(0, 0)
  t.equal(d.scale(now + 660_000, 0).desiredPodCount, 4, 'still at 4')
  t.equal(d.scale(now + 840_000, 0).desiredPodCount, 3, '4 scrolls out, drop to 3')
  t.equal(d.scale(now + 900_000, 0).desiredPodCount, 0, 'everything scrolled out')
})

t.test('scale-down delay is skipped while unreachable (TestAutoscalerScaleDownDelayNotReachable)', async (t) => {
  const spec = testSpec(10, 100, { panicThreshold: 100, scaleDownDelayMs: 300_000 })
  const m = new FakeMetrics()
  const d = newDecider(spec, m, 0)
  m.setConcurrency(40, 40)
  t.equal(d.scale(2_000, 0).desiredPodCount, 4)
  m.setConcurrency(0, 0)
  t.equal(d.scale(60_000, 0).desiredPodCount, 4)
  d.update({ ...spec, reachable: false })
  t.equal(d.scale(2_000, 0).desiredPodCount, 0, 'unreachable: no delay, no rate limit down')
})

t.test('zero scale-down delay applies the latest decision (TestAutoscalerScaleDownDelayZero)', async (t) => {
  const m = new FakeMetrics()
  const d = newDecider(testSpec(10, 100, { panicThreshold: 100 }), m, 0)
  m.setConcurrency(40, 40)
  t.equal(d.scale(0, 0).desiredPodCount, 4)
  m.setConcurrency(20, 20)
  t.equal(d.scale(500, 0).desiredPodCount, 2, 'same tick, lower count wins without a delay window')
})

t.test('a changed scale-down delay takes effect on update', async (t) => {
  const m = new FakeMetrics()
  const d = newDecider(testSpec(10, 100, { panicThreshold: 100 }), m, 0)
  m.setConcurrency(40, 40)
  t.equal(d.scale(0, 0).desiredPodCount, 4)
  d.update(testSpec(10, 100, { panicThreshold: 100, scaleDownDelayMs: 10_000 }))
  t.equal(d.scale(2_000, 0).desiredPodCount, 4)
  m.setConcurrency(0, 0)
  t.equal(d.scale(4_000, 0).desiredPodCount, 4, 'held by the new delay')
  t.equal(d.scale(12_000, 0).desiredPodCount, 0)
})

t.test('excess burst capacity', async (t) => {
  const rows: Array<{ label: string, tbc: number, ready: number, panic: number, want: number }> = [
    { label: 'TBC 0 -> 0', tbc: 0, ready: 3, panic: 50, want: 0 },
    { label: 'TBC -1 -> -1', tbc: -1, ready: 3, panic: 50, want: -1 },
    { label: 'enough headroom', tbc: 10, ready: 3, panic: 5, want: Math.floor(3 * 100 / 0.75 - 10 - 5) },
    { label: 'not enough headroom is negative', tbc: 200, ready: 1, panic: 20, want: Math.floor(100 / 0.75 - 200 - 20) },
    { label: 'uses the real ready count (0 pods)', tbc: 211, ready: 0, panic: 0, want: -211 },
  ]
  for (const row of rows) {
    const m = new FakeMetrics()
    m.setConcurrency(row.panic, row.panic)
    const d = newDecider(testSpec(100, row.tbc), m)
    t.equal(d.scale(0, row.ready).excessBurstCapacity, row.want, row.label)
  }
})

t.test('activators in path (computeNumActivators)', async (t) => {
  const rows: Array<{ tbc: number, ready: number, total: number, cap: number, want: number }> = [
    { tbc: 0, ready: 100, total: 100, cap: 100, want: 2 },
    { tbc: 211, ready: 0, total: 100, cap: 100, want: 3 },
    { tbc: 211, ready: 1, total: 100, cap: 100, want: 4 },
    { tbc: -1, ready: 1, total: 100, cap: 100, want: 2 },
    { tbc: -1, ready: 10, total: 100, cap: 100, want: 10 },
    { tbc: 1, ready: 0, total: 1, cap: 100, want: 2 },
    { tbc: 50, ready: 25, total: 10, cap: 100, want: 3 },
  ]
  for (const r of rows) {
    t.equal(computeNumActivators(r.ready, { targetBurstCapacity: r.tbc, totalValue: r.total, activatorCapacity: r.cap }), r.want,
      `tbc ${r.tbc}, ${r.ready} pods x ${r.total} / ${r.cap}`)
  }
  const m = new FakeMetrics()
  const d = newDecider(testSpec(10, 211, { activatorCapacity: 100, totalValue: 100 }), m)
  t.equal(d.scale(0, 5).numActivators, 8, 'reported by scale(): ceil((5 x 100 + 211) / 100)')
})

t.test('initial excess burst capacity (multiscaler createScaler)', async (t) => {
  t.equal(initialExcessBurstCapacity({ targetBurstCapacity: -1, initialScale: 1, totalValue: 100 }), -1)
  t.equal(initialExcessBurstCapacity({ targetBurstCapacity: 0, initialScale: 1, totalValue: 100 }), 0)
  t.equal(initialExcessBurstCapacity({ targetBurstCapacity: 211, initialScale: 1, totalValue: 100 }), -111)
  t.equal(initialExcessBurstCapacity({ targetBurstCapacity: 150, initialScale: 2, totalValue: 100 }), 50)
})

// --- the seed example ----------------------------------------------------------------------

function config (data: Record<string, string>): AutoscalerConfig {
  const r = parseAutoscalerConfig(data)
  if (r.config === null) throw new Error(r.problems.join('\n'))
  return r.config
}

function spec (cfg: AutoscalerConfig, containerConcurrency: number, annotations: Record<string, string> = {}): DeciderSpec {
  const r = makeDeciderSpec(cfg, { containerConcurrency, annotations })
  if (r.spec === null) throw new Error(r.problems.join('\n'))
  return r.spec
}

t.test('seed example: 35 req/s x 0.25 s at target 1 -> 9 pods', async (t) => {
  // Little's law: 35 req/s each taking 0.25 s keep 8.75 requests in flight on average; at a
  // target of 1 in-flight request per pod that needs ceil(8.75 / 1) = 9 pods. "Target 1" means
  // TargetValue = 1: target 1 with 100% utilization (at the default 70% it would be 13 pods).
  const cases: Array<{ label: string, cfg: AutoscalerConfig, cc: number, annotations?: Record<string, string> }> = [
    {
      label: 'annotations target=1, target-utilization-percentage=100',
      cfg: config({}),
      cc: 0,
      annotations: { 'autoscaling.knative.dev/target': '1', 'autoscaling.knative.dev/target-utilization-percentage': '100' },
    },
    {
      label: 'containerConcurrency 1 at 100% utilization',
      cfg: config({ 'container-concurrency-target-percentage': '100' }),
      cc: 1,
    },
    {
      label: 'config default target 1 at 100%',
      cfg: config({ 'container-concurrency-target-default': '1', 'container-concurrency-target-percentage': '1.0' }),
      cc: 0,
    },
  ]
  for (const c of cases) {
    t.test(c.label, async (t) => {
      const s = spec(c.cfg, c.cc, c.annotations)
      t.equal(s.targetValue, 1)
      const clock = new ManualClock(0)
      const collector = new MetricCollector({ stableWindowMs: s.stableWindowMs, panicWindowMs: s.panicWindowMs })
      const decider = new KpaDecider({ spec: s, metrics: collector, readyPods: 1, clock })
      // One scrape per second for a whole stable window, split over three pods reporting in
      // the same second (values within a second add up).
      for (let sec = 0; sec < 60; sec++) {
        for (let pod = 0; pod < 3; pod++) {
          collector.record(sec * 1000 + 100 * pod, {
            averageConcurrentRequests: 8.75 / 3,
            averageProxiedConcurrentRequests: 0,
            requestCount: 35 / 3,
            proxiedRequestCount: 0,
          })
        }
      }
      clock.advance(59_500)
      const r = decider.scale(clock.nowMs(), 1)
      t.equal(r.observedStable, 8.75)
      t.equal(r.observedPanic, 8.75)
      t.equal(r.desiredPodCount, 9)
      const rps = collector.stableAndPanicRPS(clock.nowMs())
      t.same(rps, { stable: 35, panic: 35 })
    })
  }
})

t.test('seed example through panic: 1 pod -> 9 pods at once, then steady at 9', async (t) => {
  const s = spec(config({ 'container-concurrency-target-percentage': '100' }), 1)
  const clock = new ManualClock(0)
  const collector = new MetricCollector({ stableWindowMs: s.stableWindowMs, panicWindowMs: s.panicWindowMs })
  const decider = new KpaDecider({ spec: s, metrics: collector, readyPods: 0, clock })
  const stat = { averageConcurrentRequests: 8.75, averageProxiedConcurrentRequests: 0, requestCount: 35, proxiedRequestCount: 0 }
  collector.record(0, stat)
  const first = decider.scale(0, 0)
  t.equal(first.desiredPodCount, 9, 'from zero, the young series averages its own second')
  t.equal(first.panicMode, true, '9 wanted for 1 pod is over the 200% threshold')
  let ready = 9
  for (let sec = 1; sec <= 120; sec++) {
    collector.record(sec * 1000, stat)
    if (sec % 2 === 0) {
      const r = decider.scale(sec * 1000, ready)
      t.equal(r.desiredPodCount, 9, `tick at ${sec}s`)
      ready = r.desiredPodCount
    }
  }
  t.equal(decider.panicMode, false, 'panic ended a stable window after the burst')
})
