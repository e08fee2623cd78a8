import t from 'tap'
import { SliceIndex, type RevisionSlice } from '../../../src/activator/sources/slice-index.ts'

interface Slice extends RevisionSlice { readonly tag: string }

function slice (name: string, revision: string | null, tag = name, namespace = 'ns'): Slice {
  return { namespace, name, revision, tag }
}

const tags = (index: SliceIndex<Slice>, revKey: string): string[] => [...index.slicesOf(revKey)].map((s) => s.tag).sort()

t.test('indexes slices by name and by revision', async (t) => {
  const index = new SliceIndex<Slice>(10, () => { t.fail('not full') })
  t.equal(index.add(slice('a', 'r1')), 'ns/r1')
  t.equal(index.add(slice('b', 'r1')), 'ns/r1')
  t.equal(index.add(slice('c', 'r2', 'c', 'other')), 'other/r2')
  t.equal(index.add(slice('x', null)), null, 'no revision: not indexed')
  t.equal(index.size, 3)
  t.same(tags(index, 'ns/r1'), ['a', 'b'])
  t.same([...index.revisionKeys()].sort(), ['ns/r1', 'other/r2'])

  t.equal(index.add(slice('a', 'r1', 'a2')), 'ns/r1', 'same name replaces')
  t.same(tags(index, 'ns/r1'), ['a2', 'b'])
  t.equal(index.remove('ns/a'), 'ns/r1', 'a relabelled slice: remove first to learn the old revision')
  t.equal(index.add(slice('a', 'r3')), 'ns/r3')
  t.same(tags(index, 'ns/r1'), ['b'])
  t.equal(index.remove('ns/b'), 'ns/r1')
  t.notOk(index.hasRevision('ns/r1'), 'a revision without slices is gone')
  t.same(tags(index, 'ns/r1'), [])
  t.equal(index.remove('ns/b'), null, 'unknown slice')

  t.same([...index.clear()].sort(), ['ns/r3', 'other/r2'], 'clear() returns who had slices')
  t.equal(index.size, 0)
})

t.test('refuses new slices beyond its limit', async (t) => {
  let full = 0
  const index = new SliceIndex<Slice>(2, () => { full++ })
  index.add(slice('a', 'r'))
  index.add(slice('b', 'r'))
  t.equal(index.add(slice('c', 'r')), null)
  t.equal(full, 1)
  t.equal(index.add(slice('a', 'r', 'a2')), 'ns/r', 'replacing one at the limit still works')
  t.same(tags(index, 'ns/r'), ['a2', 'b'])
})
