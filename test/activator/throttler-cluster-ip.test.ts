import t from 'tap'
import { Agent } from 'undici'
import { PodTracker } from '../../src/activator/pod-tracker.ts'
import { Throttler } from '../../src/activator/throttler.ts'

// Through the private ClusterIP service the throttler has one destination without a limit of its
// own, and Knative's calculateCapacity with no trackers sizes the revision.

const pool = new Agent()
t.teardown(() => pool.close())

const CASES: Array<{ name: string, cc: number, backends: number, activators: number, capacity: number }> = [
  { name: 'CC x backends', cc: 2, backends: 3, activators: 1, capacity: 6 },
  { name: 'divided among the activators', cc: 10, backends: 3, activators: 4, capacity: 7 },
  { name: 'at least 1 with pods behind it', cc: 1, backends: 1, activators: 5, capacity: 1 },
  { name: 'no ready pod: 0', cc: 2, backends: 0, activators: 1, capacity: 0 },
  { name: 'CC 0: unlimited', cc: 0, backends: 2, activators: 3, capacity: Number.POSITIVE_INFINITY },
]

for (const c of CASES) {
  t.test(`cluster IP capacity: ${c.name}`, async (t) => {
    const throttler = new Throttler({ containerConcurrency: c.cc, queueDepth: 10, activators: { index: 0, count: c.activators }, lbPolicy: null })
    const service = new PodTracker('10.96.0.10:80', pool, PodTracker.capacityFor(c.cc))
    throttler.setClusterIp(service, c.backends)
    t.equal(throttler.capacity, c.capacity)
    t.equal(service.capacity, Number.POSITIVE_INFINITY, 'the service tracker has no limit of its own')
    t.equal(throttler.readyCount, c.backends > 0 ? 1 : 0)
    if (c.backends === 0) return
    for (let i = 0; i < Math.min(c.capacity, 20); i++) {
      t.ok(throttler.tryAcquire())
      t.equal(throttler.pick(), service, 'every admitted request goes to the service')
    }
  })
}

t.test('the pods take over again when the cluster IP is cleared', async (t) => {
  const throttler = new Throttler({ containerConcurrency: 2, queueDepth: 10, activators: { index: 0, count: 1 }, lbPolicy: null })
  const pod = new PodTracker('10.0.0.1:8012', pool, 2)
  const service = new PodTracker('10.96.0.10:80', pool, 2)
  throttler.setReady([pod])
  t.equal(throttler.capacity, 2)
  throttler.setClusterIp(service, 5)
  t.equal(throttler.capacity, 10, 'ready pods passed to setReady do not count through the service')
  t.same(throttler.assigned, [service])
  throttler.setClusterIp(null, 0)
  t.equal(throttler.capacity, 2)
  t.same(throttler.assigned, [pod])
})
