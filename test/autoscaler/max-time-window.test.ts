// Replays Knative's pkg/autoscaler/aggregation/max/{window,timewindow}_test.go.
import t from 'tap'
import { MaxTimeWindow, MaxWindow } from '../../src/autoscaler/max-time-window.ts'

t.test('index window (TestWindowMax)', async (t) => {
  const rows: Array<{ name: string, values: number[], index?: (i: number) => number, expect: number[] }> = [
    { name: 'single value', values: [1], expect: [1] },
    { name: 'ascending values', values: [1, 2], expect: [1, 2] },
    { name: 'descending values', values: [2, 1], expect: [2, 2] },
    { name: 'up, down, up', values: [1, 2, 1], expect: [1, 2, 2] },
    { name: 'windowing out', values: [5, 6, 5, 5, 5, 5, 5], expect: [5, 6, 6, 6, 6, 6, 5] },
    { name: 'windowing out with gaps', values: [6, 5, 2, 1], index: (i) => (i >= 3 ? i + 3 : i), expect: [6, 6, 6, 2] },
    { name: 'windowing out 2', values: [5, 6, 5, 7, 5, 5, 1], expect: [5, 6, 6, 7, 7, 7, 7] },
    { name: 'windowing out 3', values: [5, 8, 5, 7, 5, 5], expect: [5, 8, 8, 8, 8, 8] },
    { name: 'windowing out 4', values: [5, 8, 5, 7, 5, 5, 1], expect: [5, 8, 8, 8, 8, 8, 7] },
    { name: 'windowing out 5', values: [5, 8, 5, 7, 5, 5, 1, 4, 4, 4], expect: [5, 8, 8, 8, 8, 8, 7, 7, 5, 5] },
    { name: 'windowing out 6', values: [5, 8, 5, 7, 5, 5, 1, 4, 4, 4, 4], expect: [5, 8, 8, 8, 8, 8, 7, 7, 5, 5, 4] },
    { name: 'windowing out 7', values: [5, 8, 5, 7, 5, 5, 1, 4, 4, 4, 4, 9], expect: [5, 8, 8, 8, 8, 8, 7, 7, 5, 5, 4, 9] },
    {
      name: 'windowing out 8',
      values: [5, 8, 5, 7, 5, 5, 1, 4, 4, 4, 4, 9, 3, 4, 2, 1, 0],
      expect: [5, 8, 8, 8, 8, 8, 7, 7, 5, 5, 4, 9, 9, 9, 9, 9, 4],
    },
    { name: 'multiple with same index, ascending', values: [1, 2, 3, 4, 5, 6, 7], index: () => 1, expect: [1, 2, 3, 4, 5, 6, 7] },
    { name: 'multiple with same index, descending', values: [7, 6, 5, 4, 3, 2, 1], index: () => 1, expect: [7, 7, 7, 7, 7, 7, 7] },
  ]
  for (const row of rows) {
    const w = new MaxWindow(5)
    const index = row.index ?? ((i: number) => i)
    const got = row.values.map((v, i) => { w.record(index(i), v); return w.current() })
    t.same(got, row.expect, row.name)
  }
})

t.test('time window (TestTimedWindowMax)', async (t) => {
  const now = 1_700_000_000_250
  const rows: Array<{ name: string, values: Array<[number, number]>, expect: number }> = [
    { name: 'single value', values: [[now, 5]], expect: 5 },
    { name: 'two values in same second', values: [[now, 6], [now + 500, 5]], expect: 6 },
    { name: 'two values', values: [[now, 5], [now + 1000, 8]], expect: 8 },
    { name: 'time gap', values: [[now, 5], [now + 6000, 4]], expect: 4 },
  ]
  for (const row of rows) {
    const w = new MaxTimeWindow(5_000, 1_000)
    for (const [time, value] of row.values) w.record(time, value)
    t.equal(w.current(), row.expect, row.name)
  }
})

t.test('empty window reads 0; memory is bounded by the window', async (t) => {
  t.equal(new MaxTimeWindow(10_000, 2_000).current(), 0)
  const w = new MaxTimeWindow(45 * 60_000, 1_000)
  for (let i = 0; i < 10_000; i++) w.record(i * 1000, 1e9 - i) // descending: every value stays a candidate
  t.equal(w.current(), 1e9 - (10_000 - 2700), 'max of the last 2700 seconds')
})
