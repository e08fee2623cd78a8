import t from 'tap'
import { normalizeHost, RevisionRegistry } from '../../src/activator/revision-registry.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { spec, startActivator, startFakePod, until } from './fixtures.ts'
import { unitContext } from './revision-fixture.ts'

t.test('a revision\'s own activator slot overrides the registry\'s, until the spec drops it', async (t) => {
  const { activator } = await startActivator(t)
  const pods = [await startFakePod(t), await startFakePod(t), await startFakePod(t)]
  const dests = pods.map((p) => p.dest)
  const sorted = [...dests].sort()
  const registry = activator.registry
  registry.upsert(spec('own', dests, 2, { activators: { index: 1, count: 3 } }))
  registry.upsert(spec('global', dests, 2))
  const own = registry.lookup('default', 'own')
  const global = registry.lookup('default', 'global')
  await until(() => own?.readyCount === 3 && global?.readyCount === 3, 3000, 'endpoints ready')
  const assigned = (name: string): string[] => (registry.lookup('default', name)?.throttler.assigned ?? []).map((x) => x.dest)

  t.same(own?.throttler.activators, { index: 1, count: 3 }, 'from the spec at construction')
  t.same(assigned('own'), [sorted[1]], 'index 1 of 3 over 3 pods: the middle one')
  t.same(assigned('global'), sorted, 'the sole activator takes them all')

  registry.setActivators({ index: 0, count: 2 })
  t.same(own?.throttler.activators, { index: 1, count: 3 }, 'the registry slot does not override the spec')
  t.same(global?.throttler.activators, { index: 0, count: 2 })
  t.same(assigned('global'), [sorted[0], sorted[2]], 'index 0 of 2: the first pod and the remnant')

  registry.upsert(spec('own', dests, 2, { activators: { index: 2, count: 3 } }))
  t.same(assigned('own'), [sorted[2]], 'an update moves the slot')
  registry.upsert(spec('own', dests, 2, { activators: null }))
  t.same(own?.throttler.activators, { index: 0, count: 2 }, 'null: back to the registry slot (as changed since)')
  registry.upsert(spec('own', dests, 2))
  t.same(own?.throttler.activators, { index: 0, count: 2 }, 'absent: the same')
})

// --- RevisionRegistry on its own: revisions built from hand-made deps (revision-fixture.ts) -----

t.test('upsert adds, updates in place and lists; remove closes; lookup by namespace and name', async (t) => {
  const u = await unitContext(t)
  const registry = new RevisionRegistry(() => u.deps(), { index: 0, count: 1 }, silentLogger())
  t.teardown(() => { registry.close() })
  registry.upsert(spec('a', [], 1))
  registry.upsert(spec('b', [], 1, { namespace: 'other' }))
  t.equal(registry.size, 2)
  const a = registry.lookup('default', 'a')
  t.equal(a?.key, 'default/a')
  t.equal(registry.lookup('other', 'b')?.key, 'other/b')
  t.equal(registry.lookup('other', 'a'), undefined, 'the namespace is part of the name')

  registry.upsert(spec('a', [], 5))
  t.equal(registry.lookup('default', 'a'), a, 'an upsert of a known revision updates it in place')
  t.equal(a?.throttler.containerConcurrency, 5)
  t.same(registry.list().map((s) => `${s.namespace}/${s.name}`).sort(), ['default/a', 'other/b'])

  registry.remove('default', 'a')
  t.equal(registry.size, 1)
  t.equal(registry.lookup('default', 'a'), undefined)
  t.ok(a?.isClosed, 'a removed revision is closed')
  registry.remove('default', 'a')
  t.equal(registry.size, 1, 'removing an unknown revision is a no-op')
  registry.close()
  t.equal(registry.size, 0)
  t.same([...registry.revisions()], [])
})

t.test('lookupHost: configured hosts (case and port ignored), Knative\'s <name>.<namespace>.svc form, first claim wins', async (t) => {
  const u = await unitContext(t)
  const registry = new RevisionRegistry(() => u.deps(), { index: 0, count: 1 }, silentLogger())
  t.teardown(() => { registry.close() })
  registry.upsert(spec('hello', [], 1, { hosts: ['Hello.Example.com'] }))
  registry.upsert(spec('rival', [], 1, { hosts: ['hello.example.com', 'rival.example.com'] }))
  const hello = registry.lookup('default', 'hello')
  const rival = registry.lookup('default', 'rival')
  const cases: Array<[string, unknown]> = [
    ['hello.example.com', hello],
    ['HELLO.example.com:8080', hello],
    ['rival.example.com', rival],
    ['hello.default.svc', hello],
    ['hello.default.svc.cluster.local', hello],
    ['hello.default.svc.cluster.local:80', hello],
    ['hello.default', undefined],
    ['hello.default.svcx', undefined],
    ['hello.nowhere.svc', undefined],
    ['unknown.example.com', undefined],
  ]
  for (const [host, want] of cases) t.equal(registry.lookupHost(host), want, host)

  registry.upsert(spec('hello', [], 1, { hosts: [] }))
  t.equal(registry.lookupHost('hello.example.com'), undefined, 'a host the owner drops is free; the rival must upsert again to take it')
  registry.upsert(spec('rival', [], 1, { hosts: ['hello.example.com', 'rival.example.com'] }))
  t.equal(registry.lookupHost('hello.example.com'), rival)
  registry.remove('default', 'rival')
  t.equal(registry.lookupHost('rival.example.com'), undefined, 'removal frees its hosts')
})

t.test('normalizeHost drops the port and lower-cases, IPv6 brackets kept', async (t) => {
  const cases: Array<[string, string]> = [
    ['Hello.Local:8080', 'hello.local'],
    ['hello.local', 'hello.local'],
    ['[::1]:80', '[::1]'],
    ['[::1]', '[::1]'],
    ['::1', '::1'],
  ]
  for (const [input, want] of cases) t.equal(normalizeHost(input), want, input)
})
