import t from 'tap'
import type { RevisionSpec } from '../../../src/activator/revision-spec.ts'
import { EmittedRevisions, revisionSpecsEqual } from '../../../src/activator/sources/emitted-revisions.ts'
import { silentLogger } from '../../../src/shared/logger.ts'
import { MemorySink } from './memory-sink.ts'

function spec (name: string, fields: Partial<RevisionSpec> = {}): RevisionSpec {
  return { namespace: 'default', name, containerConcurrency: 0, endpoints: [], hosts: [], timeoutSeconds: null, lbPolicy: null, ...fields }
}

function byKey (...specs: RevisionSpec[]): Map<string, RevisionSpec> {
  return new Map(specs.map((s) => [`${s.namespace}/${s.name}`, s]))
}

t.test('sync upserts new and changed, removes dropped, skips unchanged', async (t) => {
  const sink = new MemorySink()
  const emitted = new EmittedRevisions(sink, silentLogger())
  t.same(emitted.sync(byKey(spec('a'), spec('b'), spec('c'))), { upserted: 3, removed: 0 })
  sink.calls.length = 0
  t.same(emitted.sync(byKey(spec('a'), spec('b', { endpoints: ['1.2.3.4:1'] }), spec('d'))), { upserted: 2, removed: 1 })
  t.same(sink.calls.map((c) => c.op === 'upsert' ? `+${c.spec.name}` : `-${c.key}`), ['-default/c', '+b', '+d'])
  t.same(sink.keys(), ['default/a', 'default/b', 'default/d'])
  t.equal(emitted.size, 3)
})

t.test('put and drop touch only what this source emitted', async (t) => {
  const sink = new MemorySink()
  const emitted = new EmittedRevisions(sink, silentLogger())
  sink.upsert(spec('other'))
  t.ok(emitted.put(spec('a')))
  t.notOk(emitted.put(spec('a')), 'same spec: no call')
  t.notOk(emitted.drop('default', 'other'), 'not ours')
  t.ok(emitted.drop('default', 'a'))
  t.notOk(emitted.dropKey('default/a'), 'already gone')
  t.same(sink.keys(), ['default/other'])
})

t.test('a sink that throws is logged and retried on the next sync', async (t) => {
  const sink = new MemorySink()
  let fail = true
  const flaky = {
    upsert: (s: RevisionSpec): void => { if (fail) throw new Error('registry busy'); sink.upsert(s) },
    remove: (ns: string, name: string): void => { sink.remove(ns, name) },
    list: () => sink.list(),
  }
  const emitted = new EmittedRevisions(flaky, silentLogger())
  t.same(emitted.sync(byKey(spec('a'))), { upserted: 0, removed: 0 })
  fail = false
  t.same(emitted.sync(byKey(spec('a'))), { upserted: 1, removed: 0 })
  t.same(sink.keys(), ['default/a'])
})

t.test('revisionSpecsEqual compares every field, lists in order', async (t) => {
  const base = spec('a', { endpoints: ['1.1.1.1:1', '2.2.2.2:2'], hosts: ['x'] })
  t.ok(revisionSpecsEqual(base, { ...base, endpoints: ['1.1.1.1:1', '2.2.2.2:2'] }))
  const variants: Array<Partial<RevisionSpec>> = [
    { namespace: 'x' }, { name: 'b' }, { containerConcurrency: 1 }, { timeoutSeconds: 5 }, { lbPolicy: 'round-robin' },
    { endpoints: ['2.2.2.2:2', '1.1.1.1:1'] }, { endpoints: ['1.1.1.1:1'] }, { hosts: [] },
    { activators: { index: 0, count: 2 } },
  ]
  for (const v of variants) t.notOk(revisionSpecsEqual(base, { ...base, ...v }), JSON.stringify(v))
  const slotted = { ...base, activators: { index: 1, count: 2 } }
  t.ok(revisionSpecsEqual(slotted, { ...base, activators: { index: 1, count: 2 } }), 'slots compare by value')
  t.notOk(revisionSpecsEqual(slotted, { ...base, activators: { index: 0, count: 2 } }))
  t.notOk(revisionSpecsEqual(slotted, { ...base, activators: { index: 1, count: 3 } }))
  t.ok(revisionSpecsEqual(base, { ...base, activators: null }), 'absent and null are the same')
})
