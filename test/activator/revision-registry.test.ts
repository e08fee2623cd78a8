import t from 'tap'
import { spec, startActivator, startFakePod, until } from './fixtures.ts'

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
