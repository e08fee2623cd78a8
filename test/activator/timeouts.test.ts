import t from 'tap'
import { createClient, route, send, spec, startActivator, until } from './fixtures.ts'
import { STACKS, stackTests } from '../helpers/stacks.ts'

const test = stackTests(t, 'activator', STACKS, { parallel: true })

test('a revision that never gets an endpoint: 504 `activator request timeout` after the activation timeout', async (t, stack) => {
  const { activator, url } = await startActivator(t, [...stack.argv, '--activation-timeout', '0.5'])
  activator.registry.upsert(spec('never', [], 1))
  activator.registry.upsert(spec('own-timeout', [], 1, { timeoutSeconds: 1 }))
  const client = createClient(t)
  const start = performance.now()
  const reply = await send(client, url, { headers: route('never') })
  const elapsed = performance.now() - start
  t.equal(reply.status, 504)
  t.equal(reply.body, 'activator request timeout')
  t.ok(elapsed >= 480 && elapsed < 1200, `after ~0.5 s (${elapsed.toFixed(0)} ms)`)
  const start2 = performance.now()
  const own = await send(client, url, { headers: route('own-timeout') })
  const elapsed2 = performance.now() - start2
  t.equal(own.status, 504)
  t.ok(elapsed2 >= 980 && elapsed2 < 1700, `the revision's timeoutSeconds wins (${elapsed2.toFixed(0)} ms)`)
  t.equal(activator.registry.lookup('default', 'never')?.throttler.queued, 0, 'left the queue')
  t.equal(activator.proxyMetrics.timeout504, 2)
  t.equal(activator.registry.lookup('default', 'never')?.proxy.coldStartsAbandoned, 1, 'an abandoned cold start is counted')
})

test('--queue-timeout sheds buffered requests earlier with 503', async (t, stack) => {
  const { activator, url } = await startActivator(t, [...stack.argv, '--queue-timeout', '0.2', '--activation-timeout', '5'])
  activator.registry.upsert(spec('shed', [], 1))
  const client = createClient(t)
  const start = performance.now()
  const reply = await send(client, url, { headers: route('shed') })
  const elapsed = performance.now() - start
  t.equal(reply.status, 503)
  t.equal(reply.body, 'request timed out waiting for capacity\n')
  t.ok(elapsed >= 190 && elapsed < 800, `after ~0.2 s (${elapsed.toFixed(0)} ms)`)
})

test('queue overflow: requests beyond --queue-depth get 503 at once', async (t, stack) => {
  const { activator, url } = await startActivator(t, [...stack.argv, '--queue-depth', '3', '--activation-timeout', '1'])
  activator.registry.upsert(spec('full', [], 1))
  const client = createClient(t)
  const buffered = Array.from({ length: 3 }, () => send(client, url, { headers: route('full') }))
  await until(() => activator.registry.lookup('default', 'full')?.throttler.queued === 3)
  const start = performance.now()
  const over = await send(client, url, { headers: route('full') })
  t.equal(over.status, 503)
  t.equal(over.body, 'pending request queue full\n')
  t.ok(performance.now() - start < 200, 'immediately')
  t.same((await Promise.all(buffered)).map((r) => r.status), [504, 504, 504])
  t.equal(activator.proxyMetrics.overflow503, 1)
})
