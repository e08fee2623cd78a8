import t from 'tap'
import { revisionKeyOf, type Actuator, type PodCounts, type PodView, type RevisionId } from '../../src/autoscaler/actuator.ts'
import { parseAutoscalerConfig, type AutoscalerConfig } from '../../src/autoscaler/autoscaler-config.ts'
import { MultiScaler } from '../../src/autoscaler/multiscaler.ts'
import { Scraper, type ScrapePod, type StatFetcher } from '../../src/autoscaler/scraper.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import type { Stat } from '../../src/stats/stat.ts'

/** Pods become ready when the test says so (or at once with `instant`). */
class FakeActuator implements Actuator {
  readonly requested = new Map<string, number>()
  readonly ready = new Map<string, number>()
  readonly calls: Array<[string, number]> = []
  readonly #listeners: Array<(key: string) => void> = []
  instant = false
  clock: ManualClock

  constructor (clock: ManualClock) { this.clock = clock }

  setScale (r: RevisionId, pods: number): void {
    const key = revisionKeyOf(r.namespace, r.name)
    this.calls.push([key, pods])
    this.requested.set(key, pods)
    if (this.instant || pods < (this.ready.get(key) ?? 0)) this.converge(key)
  }

  converge (key: string): void {
    this.ready.set(key, this.requested.get(key) ?? 0)
    for (const l of this.#listeners) l(key)
  }

  readyPods (r: RevisionId): readonly PodView[] {
    const n = this.ready.get(revisionKeyOf(r.namespace, r.name)) ?? 0
    return Array.from({ length: n }, (_, i) => ({ name: `${r.name}-${i}`, servingAddress: `127.0.0.1:${9000 + i}`, metricsAddress: `127.0.0.1:${10000 + i}`, startedAtMs: 0 }))
  }

  podCounts (r: RevisionId): PodCounts {
    const key = revisionKeyOf(r.namespace, r.name)
    const ready = this.ready.get(key) ?? 0
    const want = this.requested.get(key) ?? 0
    return { ready, pending: Math.max(0, want - ready), terminating: 0 }
  }

  requestedScale (r: RevisionId): number | null { return this.requested.get(revisionKeyOf(r.namespace, r.name)) ?? null }
  watch (listener: (key: string) => void): void { this.#listeners.push(listener) }
  async close (): Promise<void> {}
}

/** Every pod reports `perPod` concurrency (and the same RPS) when scraped. */
class StubFetcher implements StatFetcher {
  perPod = 0
  async fetchStat (pod: ScrapePod): Promise<Stat> {
    return { podName: pod.name, averageConcurrentRequests: this.perPod, averageProxiedConcurrentRequests: 0, requestCount: this.perPod, proxiedRequestCount: 0, processUptime: 100, timestamp: 0 }
  }
}

function config (over: Record<string, string> = {}): AutoscalerConfig {
  const r = parseAutoscalerConfig({ 'stable-window': '6s', 'scale-to-zero-grace-period': '2s', 'allow-zero-initial-scale': 'true', 'initial-scale': '0', ...over })
  if (r.config === null) throw new Error(r.problems.join('\n'))
  return r.config
}

function activatorStat (concurrency: number): Stat {
  return { podName: 'activator', averageConcurrentRequests: concurrency, averageProxiedConcurrentRequests: 0, requestCount: concurrency, proxiedRequestCount: 0, processUptime: 0, timestamp: 0 }
}

function setup (over: Record<string, string> = {}, scrape = true): { ms: MultiScaler, act: FakeActuator, timers: ManualTimers, fetcher: StubFetcher, clock: ManualClock } {
  const clock = new ManualClock(1_000)
  const timers = new ManualTimers(clock)
  const act = new FakeActuator(clock)
  const fetcher = new StubFetcher()
  const ms = new MultiScaler({
    config: config(over),
    actuator: act,
    scraper: scrape ? new Scraper({ fetcher, clock, random: () => 0.5 }) : null,
    clock,
    timers,
    logger: silentLogger(),
  })
  ms.start()
  return { ms, act, timers, fetcher, clock }
}

const KEY = 'default/hello'

t.test('scale from zero on a poke, then back to zero after the stable window and grace', async (t) => {
  const { ms, act, timers, fetcher } = setup()
  t.same(ms.upsert({ namespace: 'default', name: 'hello', containerConcurrency: 1 }), [])
  t.equal(act.requested.get(KEY), 0, 'initial scale 0')
  t.equal(ms.revisionStatus('default', 'hello')?.activeState, 'inactive')

  // The activator's cold-start poke: concurrency 1 at target 0.7 -> ceil(1 / 0.7) = 2 pods, now.
  ms.onStat('default', 'hello', activatorStat(1))
  t.equal(ms.counters.pokes, 1)
  t.equal(act.requested.get(KEY), 2, 'scaled to 2 synchronously on the poke')
  let s = ms.revisionStatus('default', 'hello')
  t.equal(s?.panicMode, true, 'one request at zero pods is over the panic threshold')
  t.equal(s?.activeState, 'activating')

  act.converge(KEY)
  await timers.advance(0)
  t.equal(ms.revisionStatus('default', 'hello')?.activeState, 'active', 'active once the pods are ready')

  // Load for 4 s (0.5 per pod), then idle.
  fetcher.perPod = 0.5
  await timers.advance(4_000)
  t.equal(act.requested.get(KEY), 2)
  fetcher.perPod = 0
  let zeroAt = -1
  for (let i = 0; i < 40 && zeroAt < 0; i++) {
    await timers.advance(500)
    if (act.requested.get(KEY) === 0) zeroAt = i * 500
  }
  t.ok(zeroAt > 0, `back to zero ${zeroAt} ms after the load stopped`)
  s = ms.revisionStatus('default', 'hello')
  t.equal(s?.activeState, 'inactive')
  t.equal(s?.desiredPods, 0)
  t.ok((s?.history.length ?? 0) > 5, 'history recorded')
  const counts = act.calls.map((c) => c[1])
  t.same(counts.slice(0, 2), [0, 2])
  t.ok(counts.slice(1).every((n, i, a) => i === 0 || n <= a[i - 1]), `only down after the peak: ${counts.join(' -> ')}`)
  ms.close()
})

t.test('the decider reproduces the seed example: 35 req/s x 0.25 s at target 1 -> 9 pods', async (t) => {
  const { ms, act, timers } = setup({ 'container-concurrency-target-percentage': '100' }, false)
  act.instant = true
  ms.upsert({ namespace: 'default', name: 'hello', containerConcurrency: 0, annotations: { 'autoscaling.knative.dev/target': '1' } })
  for (let i = 0; i < 8; i++) {
    ms.onStat('default', 'hello', activatorStat(35 * 0.25))
    await timers.advance(1_000)
  }
  t.equal(act.requested.get(KEY), 9)
  const s = ms.revisionStatus('default', 'hello')
  t.equal(s?.observed?.stableConcurrency, 8.75)
  t.equal(s?.target, 1)
  ms.close()
})

t.test('min-scale keeps pods, max-scale caps them', async (t) => {
  const { ms, act, timers } = setup({}, false)
  act.instant = true
  ms.upsert({ namespace: 'default', name: 'a', containerConcurrency: 1, annotations: { 'autoscaling.knative.dev/min-scale': '1', 'autoscaling.knative.dev/max-scale': '3' } })
  await timers.advance(2_000)
  t.equal(act.requested.get('default/a'), 1, 'min-scale 1 with no traffic')
  for (let i = 0; i < 4; i++) {
    ms.onStat('default', 'a', activatorStat(10))
    await timers.advance(1_000)
  }
  t.equal(act.requested.get('default/a'), 3, 'capped at max-scale')
  ms.close()
})

t.test('invalid annotations are reported and the revision is not added; stats for unknown revisions are ignored', async (t) => {
  const { ms } = setup({}, false)
  const problems = ms.upsert({ namespace: 'default', name: 'bad', containerConcurrency: 1, annotations: { 'autoscaling.knative.dev/window': '1s' } })
  t.equal(problems.length, 1)
  t.match(problems[0], /window/)
  t.equal(ms.status().length, 0)
  ms.onStat('default', 'nope', activatorStat(3))
  t.equal(ms.counters.unknownRevisionStats, 1)
  ms.close()
})

t.test('initial scale 1 (Knative default) starts one pod and keeps it for a stable window', async (t) => {
  const { ms, act, timers, fetcher } = setup({ 'initial-scale': '1', 'allow-zero-initial-scale': 'false' })
  act.instant = true
  ms.upsert({ namespace: 'default', name: 'hello', containerConcurrency: 1 })
  t.equal(act.requested.get(KEY), 1)
  await timers.advance(0)
  t.equal(ms.revisionStatus('default', 'hello')?.activeState, 'active')
  fetcher.perPod = 0
  await timers.advance(4_000)
  t.equal(act.requested.get(KEY), 1, 'still 1 within the stable window')
  await timers.advance(10_000)
  t.equal(act.requested.get(KEY), 0, 'then 0')
  ms.close()
})

t.test('removing a revision scales it to zero and stops its ticks', async (t) => {
  const { ms, act } = setup({ 'initial-scale': '1', 'allow-zero-initial-scale': 'false' }, false)
  ms.upsert({ namespace: 'default', name: 'hello', containerConcurrency: 1 })
  ms.remove('default', 'hello')
  t.equal(act.requested.get(KEY), 0)
  t.equal(ms.status().length, 0)
  ms.close()
})
