import t from 'tap'
import { Agent } from 'undici'
import { createLbPolicy, defaultPolicyName, FirstAvailablePolicy, RandomChoice2Policy, RoundRobinPolicy } from '../../src/activator/lb-policy.ts'
import { PodTracker } from '../../src/activator/pod-tracker.ts'

const pool = new Agent()
t.teardown(() => pool.close())

function trackers (n: number, capacity: number): PodTracker[] {
  const out: PodTracker[] = []
  for (let i = 0; i < n; i++) out.push(new PodTracker(`10.0.0.${i}:8012`, pool, capacity))
  return out
}

/** Deterministic "random": replays a list of integers. */
function scripted (values: number[]): (n: number) => number {
  let i = 0
  return (n) => (values[i++ % values.length] ?? 0) % n
}

t.test('Knative chooses the policy by containerConcurrency', async (t) => {
  const table: Array<[number, string]> = [[0, 'random-choice-2'], [1, 'first-available'], [3, 'first-available'], [4, 'round-robin'], [100, 'round-robin']]
  for (const [cc, name] of table) t.equal(defaultPolicyName(cc), name, `cc=${cc}`)
  t.equal(createLbPolicy('round-robin').name, 'round-robin')
})

t.test('first-available packs the first tracker, then spills in dest order', async (t) => {
  const ts = trackers(3, 2)
  const p = new FirstAvailablePolicy()
  const picks = []
  for (let i = 0; i < 6; i++) picks.push(p.pick(ts)?.dest)
  t.same(picks, ['10.0.0.0:8012', '10.0.0.0:8012', '10.0.0.1:8012', '10.0.0.1:8012', '10.0.0.2:8012', '10.0.0.2:8012'])
  t.equal(p.pick(ts), null, 'all full')
  ts[1]?.release()
  t.equal(p.pick(ts)?.dest, '10.0.0.1:8012', 'a freed slot is found')
})

t.test('round-robin starts after the last pick and skips full trackers', async (t) => {
  const ts = trackers(3, 1)
  const p = new RoundRobinPolicy()
  t.equal(p.pick(ts)?.dest, '10.0.0.0:8012')
  t.equal(p.pick(ts)?.dest, '10.0.0.1:8012')
  ts[0]?.release()
  t.equal(p.pick(ts)?.dest, '10.0.0.2:8012')
  t.equal(p.pick(ts)?.dest, '10.0.0.0:8012', 'wraps around')
  t.equal(p.pick(ts), null, 'all full')
  ts[1]?.release()
  t.equal(p.pick(ts.slice(0, 2))?.dest, '10.0.0.1:8012', 'a shrunk list resets the index')
})

t.test('round-robin spreads evenly over trackers with room', async (t) => {
  const ts = trackers(4, 1000)
  const p = new RoundRobinPolicy()
  for (let i = 0; i < 400; i++) p.pick(ts)
  t.same(ts.map((x) => x.inFlight), [100, 100, 100, 100])
})

t.test('random-choice-2 takes the less loaded of two random trackers', async (t) => {
  const ts = trackers(3, Number.POSITIVE_INFINITY)
  ts[0]?.tryReserve(); ts[0]?.tryReserve()
  // r1 = 0, r2 = 1 -> shifted to 2 (skips r1)? r2 = 1 >= r1 = 0 -> 2; tracker 2 has 0 < 2.
  const p = new RandomChoice2Policy(scripted([0, 1]))
  t.equal(p.pick(ts)?.dest, '10.0.0.2:8012')
  t.equal(ts[2]?.inFlight, 1)
})

t.test('random-choice-2 with one or two trackers needs no random draw for the pair', async (t) => {
  const ts = trackers(2, Number.POSITIVE_INFINITY)
  ts[1]?.tryReserve()
  const p = new RandomChoice2Policy(() => { throw new Error('no draw expected') })
  t.equal(p.pick(ts)?.dest, '10.0.0.0:8012', 'the idle one of the two')
  t.equal(p.pick(ts.slice(0, 1))?.dest, '10.0.0.0:8012')
})

t.test('random-choice-2 balances load statistically (CC=0)', async (t) => {
  const ts = trackers(5, Number.POSITIVE_INFINITY)
  const p = new RandomChoice2Policy()
  for (let i = 0; i < 500; i++) p.pick(ts)
  for (const x of ts) t.ok(x.inFlight >= 90 && x.inFlight <= 110, `${x.dest} got ${x.inFlight}`)
})

t.test('random-choice-2 never exceeds a per-endpoint limit (override on a limited revision)', async (t) => {
  const ts = trackers(4, 2)
  const p = new RandomChoice2Policy()
  for (let i = 0; i < 8; i++) t.not(p.pick(ts), null)
  t.equal(p.pick(ts), null, 'full')
  t.same(ts.map((x) => x.inFlight), [2, 2, 2, 2])
})
