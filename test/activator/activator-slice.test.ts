import t from 'tap'
import { slicePositions, slotCapacity, type ActivatorSlot } from '../../src/activator/activator-slice.ts'

const slot = (index: number, count: number): ActivatorSlot => ({ index, count })

t.test('slices as Knative assignSlice (TestAssignSlice cases and more)', async (t) => {
  t.same(slicePositions(0, slot(0, 1)), [], 'no pods')
  t.same(slicePositions(3, slot(1, 1)), [0, 1, 2], 'one activator takes all, whatever its index')
  t.same(slicePositions(3, slot(-1, 3)), [0, 1, 2], 'index unknown: all')
  t.same(slicePositions(3, slot(1, 3)), [1], 'idx=1 na=3')
  t.same(slicePositions(1, slot(1, 3)), [0], 'len=1: the only pod')
  t.same(slicePositions(3, slot(1, 2)), [1], 'idx=1 na=2: the tail pod goes to index 0')
  t.same(slicePositions(3, slot(0, 2)), [0, 2], 'idx=0 na=2 gets the remnant')
  // 20 pods, 3 activators: slices of 6, remnants 18 and 19 to activators 0 and 1.
  t.same(slicePositions(20, slot(0, 3)), [0, 1, 2, 3, 4, 5, 18])
  t.same(slicePositions(20, slot(1, 3)), [6, 7, 8, 9, 10, 11, 19])
  t.same(slicePositions(20, slot(2, 3)), [12, 13, 14, 15, 16, 17])
  // More activators than pods: round robin.
  t.same([0, 1, 2, 3, 4].map((i) => slicePositions(3, slot(i, 5))), [[0], [1], [2], [0], [1]])
})

t.test('with N <= pods every pod belongs to exactly one replica, at full CC', async (t) => {
  for (let pods = 1; pods <= 12; pods++) {
    for (let count = 1; count <= pods; count++) {
      const owners = new Array<number>(pods).fill(0)
      for (let i = 0; i < count; i++) {
        for (const p of slicePositions(pods, slot(i, count))) {
          owners[p] = (owners[p] ?? 0) + 1
          if (slotCapacity(7, p, pods, slot(i, count)) !== 7 && count <= pods && pods > 1) t.fail(`pods ${pods} count ${count}: capacity`)
        }
      }
      if (!owners.every((n) => n === 1)) t.fail(`pods ${pods} count ${count}: owners ${owners.join(',')}`)
    }
  }
  t.pass('checked 1..12 pods x 1..pods replicas')
})

t.test('the replicas together never exceed CC on a pod (when CC >= sharers)', async (t) => {
  for (const cc of [1, 2, 3, 10]) {
    for (let pods = 1; pods <= 6; pods++) {
      for (let count = 1; count <= 8; count++) {
        const load = new Array<number>(pods).fill(0)
        for (let i = 0; i < count; i++) {
          for (const p of slicePositions(pods, slot(i, count))) load[p] = (load[p] ?? 0) + slotCapacity(cc, p, pods, slot(i, count))
        }
        // Without an index every replica takes floor(CC / N) of every pod.
        const unknown = new Array<number>(pods).fill(0)
        for (let i = 0; i < count; i++) {
          for (const p of slicePositions(pods, slot(-1, count))) unknown[p] = (unknown[p] ?? 0) + slotCapacity(cc, p, pods, slot(-1, count))
        }
        const sharers = Math.ceil(count / pods)
        const bound = Math.max(cc, sharers)
        if (load.some((n) => n > bound || n === 0)) t.fail(`cc ${cc} pods ${pods} count ${count}: ${load.join(',')}`)
        if (unknown.some((n) => n > Math.max(cc, count))) t.fail(`index unknown, cc ${cc} pods ${pods} count ${count}: ${unknown.join(',')}`)
      }
    }
  }
  t.equal(slotCapacity(10, 0, 1, slot(0, 3)), 3, 'one pod, three replicas: 3 each')
  t.equal(slotCapacity(10, 0, 2, slot(0, 3)), 5, 'two pods, three replicas: pod 0 shared by replicas 0 and 2')
  t.equal(slotCapacity(10, 1, 2, slot(1, 3)), 10, 'pod 1 belongs to replica 1 alone')
  t.equal(slotCapacity(10, 2, 4, slot(-1, 2)), 5, 'index unknown: half of every pod')
  t.equal(slotCapacity(1, 0, 4, slot(-1, 2)), 1, 'floored at 1')
})
