// Revision on its own (no registry, no activator routing): endpoints are probed before they take
// traffic, endpoints that leave go out of rotation, a CC change resizes the capacity, close() stops
// everything. Requests go through revision.proxy from a node:http server, to fake pods over sockets.
import t from 'tap'
import { Revision, timeoutPolicyFor } from '../../src/activator/revision.ts'
import { TRACKER_PROBING, TRACKER_READY } from '../../src/activator/pod-tracker.ts'
import { createClient, send, spec, startFakePod, until } from './fixtures.ts'
import { serve, unitContext } from './revision-fixture.ts'

t.test('a new endpoint gets traffic only after its probe passes', async (t) => {
  const u = await unitContext(t)
  const pod = await startFakePod(t, undefined, false)
  const revision = new Revision(spec('r', [pod.dest], 1), u.deps())
  t.teardown(() => { revision.close() })
  await until(() => pod.probes >= 2, 3000, 'probes')
  t.equal(revision.readyCount, 0, 'a failing probe keeps it out')
  t.same([...revision.trackers()].map((x) => x.state), [TRACKER_PROBING])

  const url = await serve(t, (req, res) => { revision.proxy.handle(req, res) })
  const agent = createClient(t)
  const reply = send(agent, url)
  await until(() => revision.throttler.queued === 1, 3000, 'request buffered')
  t.equal(pod.requests, 0, 'nothing sent to an unprobed endpoint')
  pod.probeOk = true
  const r = await reply
  t.equal(r.status, 200)
  t.equal(r.body, `pod ${pod.port}`, 'buffered request forwarded once the probe passed')
  t.equal(revision.readyCount, 1)
  t.same([...revision.trackers()].map((x) => x.state), [TRACKER_READY])
})

t.test('update: an endpoint that left is out of rotation at once, a new one joins after its probe, CC resizes capacity', async (t) => {
  const u = await unitContext(t)
  const a = await startFakePod(t)
  const b = await startFakePod(t)
  const revision = new Revision(spec('r', [a.dest], 2), u.deps())
  t.teardown(() => { revision.close() })
  await until(() => revision.readyCount === 1, 3000, 'a ready')
  t.equal(revision.throttler.capacity, 2, 'one endpoint at CC 2')

  revision.update(spec('r', [b.dest], 3))
  t.equal(revision.readyCount, 0, 'a gone at once; b not yet probed')
  t.same([...revision.trackers()].map((x) => x.dest), [b.dest])
  await until(() => revision.readyCount === 1, 3000, 'b ready')
  t.equal(revision.throttler.capacity, 3, 'the new CC')

  const url = await serve(t, (req, res) => { revision.proxy.handle(req, res) })
  const r = await send(createClient(t), url)
  t.equal(r.body, `pod ${b.port}`, 'traffic goes to the endpoint that remains')
  t.equal(a.requests, 0)
})

t.test('close: buffered requests get 404, endpoints are dropped, later updates are ignored', async (t) => {
  const u = await unitContext(t)
  const pod = await startFakePod(t, undefined, false)
  const revision = new Revision(spec('gone', [pod.dest], 1), u.deps())
  const url = await serve(t, (req, res) => { revision.proxy.handle(req, res) })
  const reply = send(createClient(t), url)
  await until(() => revision.throttler.queued === 1, 3000, 'request buffered')
  revision.close()
  const r = await reply
  t.equal(r.status, 404)
  t.match(r.body, 'revision removed: default/gone')
  t.ok(revision.isClosed)
  t.equal([...revision.trackers()].length, 0)
  revision.update(spec('gone', [pod.dest], 1))
  t.equal([...revision.trackers()].length, 0, 'an update after close is ignored')
})

t.test('timeoutPolicyFor: the spec\'s timeouts in ms, else the default total', async (t) => {
  const withSpec = timeoutPolicyFor(spec('r', [], 0, { timeoutSeconds: 7, responseStartTimeoutSeconds: 2, idleTimeoutSeconds: 3 }), 600_000, 50)
  t.match(withSpec, { totalMs: 7_000, responseStartMs: 2_000, idleMs: 3_000, queueMs: 50 })
  t.match(timeoutPolicyFor(spec('r', [], 0), 600_000, 0), { totalMs: 600_000, responseStartMs: 0, idleMs: 0, queueMs: 0 })
})
