import t from 'tap'
import { createClient, delayed, route, send, spec, startActivator, startFakePod, until, type FakePod, type Teardown } from './fixtures.ts'
import type { Activator } from '../../src/activator/activator-server.ts'

async function pods (t: Teardown, n: number, delayMs: number): Promise<FakePod[]> {
  const out: FakePod[] = []
  for (let i = 0; i < n; i++) out.push(await startFakePod(t, delayed(delayMs)))
  return out
}

async function ready (activator: Activator, name: string, n: number): Promise<void> {
  await until(() => activator.registry.lookup('default', name)?.readyCount === n, 3000, `${n} endpoints ready`)
}

t.test('3 endpoints with CC=2, 50 parallel requests: no endpoint ever above 2; all used', async (t) => {
  const { activator, url } = await startActivator(t)
  const ps = await pods(t, 3, 20)
  activator.registry.upsert(spec('cap', ps.map((p) => p.dest), 2))
  await ready(activator, 'cap', 3)
  const client = createClient(t)
  const replies = await Promise.all(Array.from({ length: 50 }, () => send(client, url, { headers: route('cap') })))
  t.same(new Set(replies.map((r) => r.status)), new Set([200]))
  for (const p of ps) {
    t.ok(p.maxInFlight <= 2, `pod ${p.dest} peak ${p.maxInFlight}`)
    t.ok(p.requests >= 10, `saturated: every endpoint takes a share (${p.requests})`)
  }
  t.equal(ps.reduce((n, p) => n + p.requests, 0), 50)
  const revision = activator.registry.lookup('default', 'cap')
  t.equal(revision?.throttler.policyName, 'first-available')
  for (const tr of revision?.trackers() ?? []) t.equal(tr.maxInFlight, 2)
  t.equal(revision?.throttler.inFlight, 0, 'every slot returned')
})

t.test('first-available (CC 1..3) packs the first endpoint at low load', async (t) => {
  const { activator, url } = await startActivator(t)
  const ps = await pods(t, 3, 0)
  activator.registry.upsert(spec('fa', ps.map((p) => p.dest), 3))
  await ready(activator, 'fa', 3)
  const client = createClient(t)
  for (let i = 0; i < 10; i++) t.equal((await send(client, url, { headers: route('fa') })).status, 200)
  const first = [...ps].sort((a, b) => (a.dest < b.dest ? -1 : 1))[0]
  t.equal(first?.requests, 10, 'sequential requests all go to the first endpoint in dest order')
})

t.test('round-robin (CC >= 4) spreads sequential requests evenly', async (t) => {
  const { activator, url } = await startActivator(t)
  const ps = await pods(t, 3, 0)
  activator.registry.upsert(spec('rr', ps.map((p) => p.dest), 4))
  await ready(activator, 'rr', 3)
  const client = createClient(t)
  for (let i = 0; i < 30; i++) await send(client, url, { headers: route('rr') })
  t.same(ps.map((p) => p.requests), [10, 10, 10])
})

t.test('random-choice-2 (CC=0) balances 60 parallel requests, no limit per endpoint', async (t) => {
  const { activator, url } = await startActivator(t)
  const ps = await pods(t, 3, 30)
  activator.registry.upsert(spec('r2', ps.map((p) => p.dest), 0))
  await ready(activator, 'r2', 3)
  const client = createClient(t)
  const replies = await Promise.all(Array.from({ length: 60 }, () => send(client, url, { headers: route('r2') })))
  t.same(new Set(replies.map((r) => r.status)), new Set([200]))
  // Power of two choices by in-flight count keeps the spread tight.
  for (const p of ps) t.ok(p.requests >= 15 && p.requests <= 25, `${p.dest}: ${p.requests}`)
})

t.test('a per-revision policy override is honoured', async (t) => {
  const { activator, url } = await startActivator(t)
  const ps = await pods(t, 2, 0)
  activator.registry.upsert(spec('ov', ps.map((p) => p.dest), 2, { lbPolicy: 'round-robin' }))
  await ready(activator, 'ov', 2)
  const client = createClient(t)
  for (let i = 0; i < 10; i++) await send(client, url, { headers: route('ov') })
  t.same(ps.map((p) => p.requests), [5, 5])
})

t.test('--activator-count divides capacity across activators', async (t) => {
  const { activator, url } = await startActivator(t, ['--activator-count', '2'])
  const ps = await pods(t, 2, 30)
  activator.registry.upsert(spec('ac', ps.map((p) => p.dest), 2))
  await ready(activator, 'ac', 2)
  t.equal(activator.registry.lookup('default', 'ac')?.throttler.capacity, 2, 'CC 2 x 2 endpoints / 2 activators')
  const client = createClient(t)
  const replies = await Promise.all(Array.from({ length: 10 }, () => send(client, url, { headers: route('ac') })))
  t.same(new Set(replies.map((r) => r.status)), new Set([200]))
  t.ok(ps[0] !== undefined && ps[1] !== undefined && ps[0].maxInFlight + ps[1].maxInFlight <= 2, 'at most 2 in flight in total')
})
