import t from 'tap'
import { ManualClock } from '../../src/shared/clock.ts'
import { createClient, route, send, spec, startActivator, until } from './fixtures.ts'
import { STACKS, stackTests } from '../helpers/stacks.ts'

const test = stackTests(t, 'activator', STACKS, { parallel: true })

// On fake time: the activator's deadline sweeper reads the injected clock, and a test sweeps it
// by hand (`activator.sweeper.sweep()`) to show that a deadline 1 ms away has not fired yet.

test('a revision that never gets an endpoint: 504 `activator request timeout` after the activation timeout', async (t, stack) => {
  const clock = new ManualClock()
  const { activator, url } = await startActivator(t, [...stack.argv, '--activation-timeout', '0.5'], { clock })
  activator.registry.upsert(spec('never', [], 1))
  activator.registry.upsert(spec('own-timeout', [], 1, { timeoutSeconds: 1 }))
  const queued = (name: string): number | undefined => activator.registry.lookup('default', name)?.throttler.queued
  const client = createClient(t)
  const reply = send(client, url, { headers: route('never') })
  await until(() => queued('never') === 1, 2000, 'the request is buffered')
  clock.advance(499)
  activator.sweeper.sweep()
  t.equal(queued('never'), 1, 'still buffered 1 ms before the activation timeout')
  clock.advance(1)
  activator.sweeper.sweep()
  const r = await reply
  t.equal(r.status, 504, 'at the activation timeout (0.5 s)')
  t.equal(r.body, 'activator request timeout')
  const own = send(client, url, { headers: route('own-timeout') })
  await until(() => queued('own-timeout') === 1, 2000, 'the second request is buffered')
  clock.advance(999)
  activator.sweeper.sweep()
  t.equal(queued('own-timeout'), 1, `the revision's timeoutSeconds wins: still buffered past the activation timeout, 1 ms before its own`)
  clock.advance(1)
  activator.sweeper.sweep()
  t.equal((await own).status, 504, 'at the revision timeout (1 s)')
  t.equal(queued('never'), 0, 'left the queue')
  t.equal(activator.proxyMetrics.timeout504, 2)
  t.equal(activator.registry.lookup('default', 'never')?.proxy.coldStartsAbandoned, 1, 'an abandoned cold start is counted')
})

test('--queue-timeout sheds buffered requests earlier with 503', async (t, stack) => {
  const clock = new ManualClock()
  const { activator, url } = await startActivator(t, [...stack.argv, '--queue-timeout', '0.2', '--activation-timeout', '5'], { clock })
  activator.registry.upsert(spec('shed', [], 1))
  const queued = (): number | undefined => activator.registry.lookup('default', 'shed')?.throttler.queued
  const client = createClient(t)
  const reply = send(client, url, { headers: route('shed') })
  await until(() => queued() === 1, 2000, 'the request is buffered')
  clock.advance(199)
  activator.sweeper.sweep()
  t.equal(queued(), 1, 'still buffered 1 ms before the queue timeout')
  clock.advance(1)
  activator.sweeper.sweep()
  const r = await reply
  t.equal(r.status, 503, 'at the queue timeout (0.2 s), long before the activation timeout')
  t.equal(r.body, 'request timed out waiting for capacity\n')
})

test('queue overflow: requests beyond --queue-depth get 503 at once', async (t, stack) => {
  const clock = new ManualClock()
  const { activator, url } = await startActivator(t, [...stack.argv, '--queue-depth', '3', '--activation-timeout', '1'], { clock })
  activator.registry.upsert(spec('full', [], 1))
  const client = createClient(t)
  const buffered = Array.from({ length: 3 }, () => send(client, url, { headers: route('full') }))
  await until(() => activator.registry.lookup('default', 'full')?.throttler.queued === 3)
  // The clock stands still: an answer now is not one any timeout gave.
  const over = await send(client, url, { headers: route('full') })
  t.equal(over.status, 503, 'immediately (no time passed)')
  t.equal(over.body, 'pending request queue full\n')
  t.equal(activator.registry.lookup('default', 'full')?.throttler.queued, 3, 'the three buffered requests keep their places')
  clock.advance(1_000)
  t.same((await Promise.all(buffered)).map((r) => r.status), [504, 504, 504])
  t.equal(activator.proxyMetrics.overflow503, 1)
})
