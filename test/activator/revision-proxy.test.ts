// RevisionProxy on its own: a Throttler and PodTrackers made by hand (no Revision, no probing), so
// the test decides when endpoints are ready. Requests come from a real client through a node:http
// server and go to fake pods over real sockets.
import t from 'tap'
import { PodTracker } from '../../src/activator/pod-tracker.ts'
import { timeoutPolicyFor } from '../../src/activator/revision.ts'
import { RevisionProxy } from '../../src/activator/revision-proxy.ts'
import { Throttler } from '../../src/activator/throttler.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { createClient, delayed, send, spec, startFakePod, until, type FakePod, type Teardown } from './fixtures.ts'
import { h1Pool, serve, unitContext } from './revision-fixture.ts'

interface Setup {
  proxy: RevisionProxy
  throttler: Throttler
  url: string
  failed: string[]
  tracker (pod: FakePod): PodTracker
}

async function setup (t: Teardown, containerConcurrency: number, queueDepth = 100): Promise<Setup> {
  const u = await unitContext(t)
  const throttler = new Throttler({ containerConcurrency, queueDepth, activators: { index: 0, count: 1 }, lbPolicy: null })
  const failed: string[] = []
  // As Revision does: a failed endpoint leaves the ready set until a probe passes.
  const health = {
    markFailed (tracker: PodTracker): void {
      failed.push(tracker.dest)
      throttler.setReady(throttler.ready.filter((x) => x !== tracker))
    },
  }
  const concurrency = u.activator.reporter.register('default', 'r')
  const proxy = new RevisionProxy('default', 'r', throttler, concurrency, health, u.activator,
    timeoutPolicyFor(spec('r', [], containerConcurrency), 10_000, 0), silentLogger())
  t.teardown(() => { proxy.remove(); u.activator.reporter.unregister(concurrency) })
  const url = await serve(t, (req, res) => { proxy.handle(req, res) })
  return {
    proxy,
    throttler,
    url,
    failed,
    tracker: (pod) => {
      const tracker = new PodTracker(pod.dest, h1Pool(pod.dest), PodTracker.capacityFor(containerConcurrency))
      t.teardown(() => tracker.pool.close())
      return tracker
    },
  }
}

/** Makes `trackers` the ready set, as Revision does when probes pass. */
function setReady (s: Setup, trackers: PodTracker[]): void {
  const before = s.throttler.readyCount
  s.throttler.setReady(trackers)
  s.proxy.onReadyCountChange(before, trackers.length)
  s.proxy.unpark()
}

t.test('buffers while no endpoint is ready, forwards when one becomes ready, with Knative\'s headers', async (t) => {
  const s = await setup(t, 0)
  const pod = await startFakePod(t)
  const agent = createClient(t)
  const replies = [0, 1, 2].map(() => send(agent, s.url, { headers: { host: 'hello.example.com', 'k-proxy-request': 'spoofed' } }))
  await until(() => s.throttler.queued === 3, 3000, 'three buffered')
  t.equal(pod.requests, 0)
  setReady(s, [s.tracker(pod)])
  for (const r of await Promise.all(replies)) t.same([r.status, r.body], [200, `pod ${pod.port}`])
  t.equal(pod.lastHeaders?.['k-proxy-request'], 'activator', 'the client\'s own claim is replaced')
  t.equal(pod.lastHeaders?.['k-original-host'], 'hello.example.com')
  t.equal(s.proxy.coldStarts.count, 1, 'one cold start recorded')
})

t.test('CC 1: each endpoint gets at most one request at a time, both are used, the rest wait', async (t) => {
  const s = await setup(t, 1)
  const pods = [await startFakePod(t, delayed(30)), await startFakePod(t, delayed(30))]
  setReady(s, pods.map((p) => s.tracker(p)))
  t.equal(s.throttler.capacity, 2)
  const agent = createClient(t)
  const replies = await Promise.all(Array.from({ length: 8 }, () => send(agent, s.url)))
  t.same(replies.map((r) => r.status), Array(8).fill(200))
  for (const p of pods) {
    t.equal(p.maxInFlight, 1, `${p.dest} never over its CC`)
    t.ok(p.requests > 0, `${p.dest} was used`)
  }
  t.equal(pods.reduce((n, p) => n + p.requests, 0), 8)
})

t.test('a full queue answers 503 at once', async (t) => {
  const s = await setup(t, 1, 1)
  const agent = createClient(t)
  const buffered = send(agent, s.url)
  await until(() => s.throttler.queued === 1, 3000, 'one buffered')
  const r = await send(agent, s.url)
  t.equal(r.status, 503)
  s.proxy.remove()
  const removed = await buffered
  t.equal(removed.status, 404, 'remove() answers the buffered request')
  t.equal(removed.body, 'revision removed: default/r\n')
})

t.test('a connect failure marks the endpoint failed and the request is retried on another', async (t) => {
  const s = await setup(t, 0)
  const dead = await startFakePod(t)
  const live = await startFakePod(t)
  await dead.close()
  s.throttler.setPolicyOverride('round-robin')
  setReady(s, [s.tracker(dead), s.tracker(live)])
  const agent = createClient(t)
  const replies = await Promise.all([0, 1, 2, 3].map(() => send(agent, s.url)))
  t.same(replies.map((r) => r.body), Array(4).fill(`pod ${live.port}`))
  t.ok(s.failed.includes(dead.dest), 'the revision is told which endpoint failed')
})
