import t from 'tap'
import { ManualClock } from '../../src/shared/clock.ts'
import { TRACKER_FAILED, TRACKER_READY } from '../../src/activator/pod-tracker.ts'
import { createClient, delayed, route, send, sleep, spec, startActivator, startFakePod, until } from './fixtures.ts'
import { ALL_STACKS, stackTests } from '../helpers/stacks.ts'

const test = stackTests(t, 'activator', ALL_STACKS, { parallel: true })

test('an endpoint dies mid-test: its requests are retried, later ones go to the survivors', async (t, stack) => {
  // The injected clock stands still: every request must complete without waiting out a timeout.
  const { activator, url } = await startActivator(t, stack.argv, { clock: new ManualClock() })
  const a = await startFakePod(t, delayed(100))
  const b = await startFakePod(t, delayed(100))
  const c = await startFakePod(t, delayed(100))
  activator.registry.upsert(spec('die', [a.dest, b.dest, c.dest], 2, { lbPolicy: 'round-robin' }))
  await until(() => activator.registry.lookup('default', 'die')?.readyCount === 3)
  const client = createClient(t)
  const first = Array.from({ length: 12 }, () => send(client, url, { headers: route('die') }))
  await until(() => b.inFlight === 2, 2000, 'b busy')
  const bServedBeforeDeath = b.requests
  await b.close()
  const firstReplies = await Promise.all(first)
  const revision = activator.registry.lookup('default', 'die')
  const tb = revision === undefined ? undefined : [...revision.trackers()].find((x) => x.dest === b.dest)
  // A refused reconnect marks it failed; it stays out of rotation (re-probed, probe fails: closed).
  t.equal(tb?.state, TRACKER_FAILED, 'dead endpoint out of rotation')
  const later = await Promise.all(Array.from({ length: 20 }, () => send(client, url, { headers: route('die') })))
  // Its 2 requests in flight saw the connection reset before any response byte: replayed (GETs), they
  // first hit the dead endpoint's refused port (now marked failed), then wait for room on a survivor.
  t.same(new Set(firstReplies.map((r) => r.status)), new Set([200]), 'the requests in flight on the dead endpoint were retried')
  t.same(new Set(later.map((r) => r.status)), new Set([200]), 'later requests all succeed on the survivors')
  t.equal(b.requests, bServedBeforeDeath, 'nothing reached the dead endpoint afterwards')
  t.ok(a.requests + c.requests >= 30, 'the survivors served the rest')
  t.equal(activator.proxyMetrics.timeout504, 0, 'nothing hung: all answered with the clock standing still, no timeout')
  t.ok(a.maxInFlight <= 2 && c.maxInFlight <= 2, 'survivors never above CC')
  t.equal(revision?.throttler.capacity, 4)
})

test('a connect failure is retried on another endpoint and the endpoint returns after a probe', async (t, stack) => {
  const { activator, url } = await startActivator(t, stack.argv)
  const a = await startFakePod(t)
  const b = await startFakePod(t)
  activator.registry.upsert(spec('retry', [a.dest, b.dest], 10, { lbPolicy: 'first-available' }))
  await until(() => activator.registry.lookup('default', 'retry')?.readyCount === 2)
  const sorted = [a, b].sort((x, y) => (x.dest < y.dest ? -1 : 1))
  const firstPod = sorted[0]
  const secondPod = sorted[1]
  if (firstPod === undefined || secondPod === undefined) throw new Error('unreachable')
  // The first endpoint (the one first-available picks) stops listening: connections are refused.
  const port = firstPod.port
  await firstPod.close()
  const client = createClient(t)
  const reply = await send(client, url, { headers: route('retry') })
  t.equal(reply.status, 200, 'retried on the other endpoint')
  t.equal(secondPod.requests, 1)
  const revision = activator.registry.lookup('default', 'retry')
  const tracker = revision === undefined ? undefined : [...revision.trackers()].find((x) => x.dest === firstPod.dest)
  t.equal(tracker?.state, TRACKER_FAILED)
  // It comes back on the same port: the re-probe puts it back in rotation.
  await new Promise<void>((resolve) => { firstPod.server.listen(port, '127.0.0.1', resolve) })
  await until(() => tracker?.state === TRACKER_READY, 3000, 're-probed ready')
  await sleep(10)
  t.equal((await send(client, url, { headers: route('retry') })).status, 200)
  t.equal(firstPod.requests, 1, 'back in rotation')
})

test('no endpoint reachable at all: 502 after bounded retries, no hang', async (t, stack) => {
  const { activator, url } = await startActivator(t, stack.argv)
  const pods = [await startFakePod(t), await startFakePod(t), await startFakePod(t), await startFakePod(t)]
  activator.registry.upsert(spec('down', pods.map((p) => p.dest), 0))
  await until(() => activator.registry.lookup('default', 'down')?.readyCount === 4)
  for (const p of pods) await p.close()
  const client = createClient(t)
  const reply = await send(client, url, { headers: route('down') })
  t.equal(reply.status, 502)
  t.match(reply.body, /ECONNREFUSED/)
  const revision = activator.registry.lookup('default', 'down')
  t.equal(revision?.readyCount, 1, 'three endpoints tried (1 + MAX_RETRIES) and marked failed')
})

test('a retry with no endpoint left waits for one (parked), then completes', async (t, stack) => {
  const { activator, url } = await startActivator(t, [...stack.argv, '--activation-timeout', '3'])
  const only = await startFakePod(t, delayed(200))
  const next = await startFakePod(t, delayed(0))
  activator.registry.upsert(spec('last', [only.dest], 1))
  await until(() => activator.registry.lookup('default', 'last')?.readyCount === 1)
  const client = createClient(t)
  const pending = send(client, url, { headers: route('last') })
  await until(() => only.inFlight === 1)
  await only.close()
  const revision = activator.registry.lookup('default', 'last')
  await until(() => revision?.proxy.parkedCount === 1, 2000, 'retry parked')
  t.equal(revision?.readyCount, 0)
  activator.registry.upsert(spec('last', [only.dest, next.dest], 1))
  const reply = await pending
  t.equal(reply.status, 200, 'replayed on the new endpoint')
  t.equal(next.requests, 1)
  t.equal(revision?.proxy.parkedCount, 0)
  t.equal(revision?.throttler.inFlight, 0)
})

test('a parked retry still ends at the revision timeout', async (t, stack) => {
  const clock = new ManualClock()
  const { activator, url } = await startActivator(t, [...stack.argv, '--activation-timeout', '0.5'], { clock })
  const only = await startFakePod(t, delayed(200))
  activator.registry.upsert(spec('park-timeout', [only.dest], 1))
  await until(() => activator.registry.lookup('default', 'park-timeout')?.readyCount === 1)
  const client = createClient(t)
  const pending = send(client, url, { headers: route('park-timeout') })
  await until(() => only.inFlight === 1)
  await only.close()
  const revision = activator.registry.lookup('default', 'park-timeout')
  await until(() => revision?.proxy.parkedCount === 1, 2000, 'retry parked')
  clock.advance(500)
  activator.sweeper.sweep()
  const reply = await pending
  t.equal(reply.status, 504)
  t.equal(revision?.proxy.parkedCount, 0)
  t.equal(revision?.throttler.inFlight, 0, 'slot returned')
  t.equal(activator.active.count, 0)
})
