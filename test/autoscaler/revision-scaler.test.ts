// RevisionScaler on its own (no MultiScaler ticks): the caller records stats and calls tick(); the
// scaler asks the actuator for pods, reports its state, and scales to zero only after the activator
// answers its probe. Time is a ManualClock; the requeue and probe timers are ManualTimers.
import t from 'tap'
import { revisionKeyOf, type Actuator, type PodCounts, type PodView, type RevisionId } from '../../src/autoscaler/actuator.ts'
import { parseAutoscalerConfig, type AutoscalerConfig } from '../../src/autoscaler/autoscaler-config.ts'
import { makeDeciderSpec } from '../../src/autoscaler/decider-spec.ts'
import { RevisionScaler } from '../../src/autoscaler/revision-scaler.ts'
import type { ScrapeOutcome } from '../../src/autoscaler/scraper.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { ManualTimers } from '../../src/shared/timers.ts'

/** Pods are ready as soon as they are asked for. */
class InstantActuator implements Actuator {
  readonly calls: number[] = []
  requested: number | null = null
  setScale (_r: RevisionId, pods: number): void { this.calls.push(pods); this.requested = pods }
  readyPods (r: RevisionId): readonly PodView[] {
    return Array.from({ length: this.requested ?? 0 }, (_, i) => ({ name: `${r.name}-${i}`, servingAddress: `127.0.0.1:${9000 + i}`, metricsAddress: `127.0.0.1:${10000 + i}`, startedAtMs: 0 }))
  }

  podCounts (): PodCounts { return { ready: this.requested ?? 0, pending: 0, terminating: 0 } }
  requestedScale (): number | null { return this.requested }
  watch (): void {}
  async close (): Promise<void> {}
}

function config (): AutoscalerConfig {
  const r = parseAutoscalerConfig({ 'stable-window': '6s', 'scale-to-zero-grace-period': '2s', 'allow-zero-initial-scale': 'true', 'initial-scale': '0' })
  if (r.config === null) throw new Error(r.problems.join('\n'))
  return r.config
}

interface Setup { scaler: RevisionScaler, act: InstantActuator, timers: ManualTimers, probes: { count: number, ok: boolean } }

function setup (containerConcurrency = 1): Setup {
  const clock = new ManualClock(1_000)
  const timers = new ManualTimers(clock)
  const act = new InstantActuator()
  const cfg = config()
  const made = makeDeciderSpec(cfg, { containerConcurrency })
  if (made.spec === null) throw new Error(made.problems.join('\n'))
  const probes = { count: 0, ok: true }
  const revision = { namespace: 'default', name: 'hello' }
  const scaler = new RevisionScaler({
    revision,
    containerConcurrency,
    spec: made.spec,
    config: cfg,
    actuator: act,
    clock,
    timers,
    logger: silentLogger(),
    activatorProbe: async (r) => { probes.count++; return probes.ok && revisionKeyOf(r.namespace, r.name) === 'default/hello' },
    activatorAlwaysInPath: true,
    historySize: 4,
  })
  act.setScale(revision, made.spec.initialScale)
  scaler.reconcile()
  return { scaler, act, timers, probes }
}

const stat = (concurrency: number): { averageConcurrentRequests: number, averageProxiedConcurrentRequests: number, requestCount: number, proxiedRequestCount: number } =>
  ({ averageConcurrentRequests: concurrency, averageProxiedConcurrentRequests: 0, requestCount: concurrency, proxiedRequestCount: 0 })

t.test('a stat showing demand at zero is a poke; the tick then asks the actuator for pods', async (t) => {
  const { scaler, act } = setup()
  t.equal(scaler.status().activeState, 'inactive')
  t.equal(scaler.record(stat(0)), false, 'no demand: no poke')
  t.equal(scaler.record(stat(1)), true, 'demand at zero: poke')
  scaler.tick()
  // Concurrency 1 against target 1 x 0.7 utilisation: ceil(1 / 0.7) = 2 pods.
  t.equal(act.requested, 2)
  const s = scaler.status()
  t.equal(s.desiredPods, 2)
  t.equal(s.requestedPods, 2)
  t.equal(s.readyPods, 2)
  t.equal(s.activeState, 'activating', 'the tick saw no ready pod yet')
  scaler.reconcile() // as MultiScaler does when the actuator reports pods changed
  t.equal(scaler.status().activeState, 'active')
  t.not(s.observed, null)
  t.equal(scaler.record(stat(1)), false, 'above zero: no longer a poke')
})

t.test('scales to zero after the stable window and grace, only once the activator answers', async (t) => {
  const { scaler, act, timers, probes } = setup()
  scaler.record(stat(1))
  scaler.tick()
  t.equal(act.requested, 2)
  probes.ok = false
  for (let i = 0; i < 8; i++) { await timers.advance(2_000); scaler.record(stat(0)); scaler.tick() }
  t.ok(probes.count > 0, 'the activator was probed before the last pod goes')
  t.not(act.requested, 0, 'activator not answering: pods stay')
  probes.ok = true
  for (let i = 0; i < 30 && act.requested !== 0; i++) { await timers.advance(1_000); scaler.tick() }
  t.equal(act.requested, 0, 'scaled to zero once the activator answered')
  t.equal(scaler.status().activeState, 'inactive')
})

t.test('history keeps the last samples, one per tick; close stops ticks and reconciles', async (t) => {
  const { scaler, act, timers } = setup()
  for (let i = 0; i < 6; i++) { scaler.record(stat(1)); scaler.tick(); await timers.advance(2_000) }
  const s = scaler.status()
  t.equal(s.history.length, 4, 'bounded by historySize')
  t.equal(scaler.status(2).history.length, 2, 'the caller may ask for fewer')
  const at = s.history.map((h) => h.atMs)
  t.same(at.slice(1).map((ms, i) => ms - (at[i] ?? 0)), [2_000, 2_000, 2_000], 'the newest four, oldest first, one per tick')
  t.ok(s.history.every((h) => h.desiredPods > 0), 'each tick under load wanted pods')
  scaler.close()
  const calls = act.calls.length
  scaler.record(stat(50))
  scaler.tick()
  scaler.reconcile()
  await timers.advance(60_000)
  t.equal(act.calls.length, calls, 'a closed scaler asks for nothing')
})

t.test('scrape records what the ready pods report, and skips while one is running', async (t) => {
  const { scaler, act } = setup()
  scaler.record(stat(1))
  scaler.tick()
  let release: () => void = () => {}
  const seen: number[] = []
  const first = scaler.scrape(async (pods): Promise<ScrapeOutcome> => {
    seen.push(pods.length)
    await new Promise<void>((resolve) => { release = resolve })
    return { kind: 'stat', stat: { ...stat(20), podName: 'hello-0', processUptime: 10, timestamp: 0 }, scraped: pods.length }
  })
  await scaler.scrape(async (): Promise<ScrapeOutcome> => { seen.push(-1); return { kind: 'empty' } })
  t.same(seen, [2], 'the second scrape was skipped; the first saw the ready pods')
  release()
  await first
  scaler.tick()
  t.ok((act.requested ?? 0) > 2, 'the scraped load scales up')
})
