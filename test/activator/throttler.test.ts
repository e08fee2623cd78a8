import t from 'tap'
import { Agent } from 'undici'
import type { BreakerWaiter } from '../../src/admission/breaker.ts'
import type { QueueNode } from '../../src/admission/waiter-queue.ts'
import { PodTracker } from '../../src/activator/pod-tracker.ts'
import { Throttler } from '../../src/activator/throttler.ts'

const pool = new Agent()
t.teardown(() => pool.close())

function trackers (n: number, cc: number): PodTracker[] {
  const out: PodTracker[] = []
  for (let i = n - 1; i >= 0; i--) out.push(new PodTracker(`10.0.0.${i}:8012`, pool, PodTracker.capacityFor(cc)))
  return out
}

class Waiter implements BreakerWaiter {
  prev: QueueNode | null = null
  next: QueueNode | null = null
  queued = false
  admitted = 0
  readonly id: number
  readonly log: number[]
  constructor (id: number, log: number[]) { this.id = id; this.log = log }
  onAdmit (): void { this.admitted++; this.log.push(this.id) }
}

const sole = { index: 0, count: 1 }

t.test('capacity follows ready endpoints, CC and the activator slice (Knative calculateCapacity)', async (t) => {
  const table: Array<{ cc: number, ready: number, index: number, activators: number, want: number, assigned: number }> = [
    { cc: 10, ready: 0, index: 0, activators: 1, want: 0, assigned: 0 },
    { cc: 0, ready: 0, index: 0, activators: 1, want: 0, assigned: 0 },
    { cc: 0, ready: 1, index: 0, activators: 1, want: Number.POSITIVE_INFINITY, assigned: 1 },
    { cc: 0, ready: 3, index: 2, activators: 5, want: Number.POSITIVE_INFINITY, assigned: 3 },
    { cc: 2, ready: 3, index: 0, activators: 1, want: 6, assigned: 3 },
    // Index unknown: floor(CC / N) of every pod.
    { cc: 10, ready: 3, index: -1, activators: 2, want: 15, assigned: 3 },
    { cc: 1, ready: 1, index: -1, activators: 3, want: 1, assigned: 1 },
    { cc: 3, ready: 2, index: -1, activators: 4, want: 2, assigned: 2 },
    // Index known: own slice at full CC; shared pods split.
    { cc: 10, ready: 4, index: 0, activators: 2, want: 20, assigned: 2 },
    { cc: 10, ready: 3, index: 0, activators: 2, want: 20, assigned: 2 },
    { cc: 10, ready: 3, index: 1, activators: 2, want: 10, assigned: 1 },
    { cc: 10, ready: 1, index: 1, activators: 2, want: 5, assigned: 1 },
    { cc: 10, ready: 2, index: 2, activators: 3, want: 5, assigned: 1 },
  ]
  for (const row of table) {
    const th = new Throttler({ containerConcurrency: row.cc, queueDepth: 10, activators: { index: row.index, count: row.activators }, lbPolicy: null })
    th.setReady(trackers(row.ready, row.cc))
    t.equal(th.capacity, row.want, JSON.stringify(row))
    t.equal(th.assigned.length, row.assigned, `assigned ${JSON.stringify(row)}`)
  }
})

t.test('a replica only picks from its slice, and never beyond its share of a tracker', async (t) => {
  const all = trackers(4, 3)
  const th = new Throttler({ containerConcurrency: 3, queueDepth: 10, activators: { index: 1, count: 2 }, lbPolicy: null })
  th.setReady(all)
  const picked = new Set<string>()
  while (th.tryAcquire()) {
    const p = th.pick()
    t.not(p, null)
    if (p !== null) picked.add(p.dest)
  }
  t.same([...picked].sort(), ['10.0.0.2:8012', '10.0.0.3:8012'], 'index 1 of 2 owns the upper half')
  t.equal(th.inFlight, 6)
  // A third activator joins: index 1 of 3 keeps one pod; the requests still running elsewhere
  // hold their slots, so nothing more is admitted until they end.
  th.setActivators({ index: 1, count: 3 })
  t.equal(th.capacity, 3)
  t.same(th.assigned.map((x) => x.dest), ['10.0.0.1:8012'])
  t.notOk(th.tryAcquire())
})

t.test('buffered requests are admitted FIFO when endpoints become ready, up to capacity', async (t) => {
  const th = new Throttler({ containerConcurrency: 2, queueDepth: 5, activators: sole, lbPolicy: null })
  const log: number[] = []
  const waiters = [0, 1, 2, 3, 4].map((i) => new Waiter(i, log))
  t.notOk(th.tryAcquire(), 'no capacity at zero')
  for (const w of waiters) t.ok(th.enqueue(w))
  t.notOk(th.enqueue(new Waiter(9, log)), 'queue depth 5 is the limit')
  const ts = trackers(1, 2)
  th.setReady(ts)
  t.same(log, [0, 1], 'two admitted, oldest first')
  // Each admitted request picks a tracker: the one endpoint, then it is full.
  t.ok(th.pick()); t.ok(th.pick()); t.equal(th.pick(), null)
  t.equal(th.queued, 3)
  ts[0]?.release(); th.release()
  t.same(log, [0, 1, 2], 'a release hands the slot to the next in line')
})

t.test('the picked tracker always has room after admission (invariant), even when endpoints leave', async (t) => {
  const th = new Throttler({ containerConcurrency: 2, queueDepth: 100, activators: sole, lbPolicy: null })
  const all = trackers(3, 2)
  th.setReady(all)
  const held: PodTracker[] = []
  while (th.tryAcquire()) {
    const p = th.pick()
    t.not(p, null)
    if (p !== null) held.push(p)
  }
  t.equal(held.length, 6)
  // One endpoint leaves with its 2 requests still running: capacity 4, in flight 6, nothing admitted.
  th.setReady(all.slice(1))
  t.equal(th.capacity, 4)
  t.notOk(th.tryAcquire())
  // Requests on the survivors end one by one; admission resumes only once in flight < 4.
  let released = 0
  for (const p of held) {
    if (p === all[0]) continue
    p.release(); th.release(); released++
    if (th.inFlight < th.capacity) break
  }
  t.equal(released, 3)
  t.ok(th.tryAcquire())
  t.not(th.pick(), null)
})

t.test('policy: default by CC, override per revision, CC change switches the default', async (t) => {
  const th = new Throttler({ containerConcurrency: 0, queueDepth: 1, activators: sole, lbPolicy: null })
  t.equal(th.policyName, 'random-choice-2')
  th.setContainerConcurrency(2)
  t.equal(th.policyName, 'first-available')
  th.setPolicyOverride('round-robin')
  t.equal(th.policyName, 'round-robin')
  th.setContainerConcurrency(0)
  t.equal(th.policyName, 'round-robin', 'an override survives a CC change')
  th.setPolicyOverride(null)
  t.equal(th.policyName, 'random-choice-2')
})

t.test('activator count divides capacity and growth admits waiters', async (t) => {
  const th = new Throttler({ containerConcurrency: 4, queueDepth: 10, activators: { index: -1, count: 2 }, lbPolicy: null })
  th.setReady(trackers(1, 4))
  t.equal(th.capacity, 2)
  const log: number[] = []
  t.ok(th.tryAcquire()); t.ok(th.tryAcquire())
  th.enqueue(new Waiter(1, log))
  th.setActivators(sole)
  t.equal(th.capacity, 4)
  t.same(log, [1])
})
