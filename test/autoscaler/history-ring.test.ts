// HistoryRing: the status page's bounded sample history.
import t from 'tap'
import { HistoryRing } from '../../src/autoscaler/history-ring.ts'

t.test('refuses a capacity that is not a positive integer', async (t) => {
  for (const c of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) t.throws(() => new HistoryRing<number>(c), RangeError, String(c))
})

t.test('empty: no latest, no items', async (t) => {
  const r = new HistoryRing<number>(3)
  t.equal(r.size, 0)
  t.equal(r.latest(), null)
  t.same(r.toArray(), [])
})

t.test('below capacity: everything, oldest first', async (t) => {
  const r = new HistoryRing<number>(3)
  r.push(1)
  r.push(2)
  t.equal(r.size, 2)
  t.equal(r.latest(), 2)
  t.same(r.toArray(), [1, 2])
})

t.test('past capacity: the oldest are overwritten, size stays at capacity', async (t) => {
  const r = new HistoryRing<number>(3)
  for (let i = 1; i <= 7; i++) r.push(i)
  t.equal(r.size, 3)
  t.equal(r.latest(), 7)
  t.same(r.toArray(), [5, 6, 7])
})

t.test('toArray(limit): the newest `limit`, oldest first; a limit above size gives all', async (t) => {
  const r = new HistoryRing<string>(4)
  for (const s of ['a', 'b', 'c', 'd', 'e']) r.push(s)
  t.same(r.toArray(2), ['d', 'e'])
  t.same(r.toArray(0), [])
  t.same(r.toArray(10), ['b', 'c', 'd', 'e'])
})

t.test('capacity 1 keeps only the latest', async (t) => {
  const r = new HistoryRing<number>(1)
  r.push(1)
  r.push(2)
  t.same(r.toArray(), [2])
  t.equal(r.latest(), 2)
})
