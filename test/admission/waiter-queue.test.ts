// WaiterQueue: the intrusive FIFO under the Breaker (and the activator's parked requests). The
// waiting object is the node, so these tests check the links themselves: order, O(1) unlinking
// from any position, and that a node is in one queue at most.
import t from 'tap'
import { type QueueNode, WaiterQueue } from '../../src/admission/waiter-queue.ts'

class Node implements QueueNode {
  prev: QueueNode | null = null
  next: QueueNode | null = null
  queued = false
  readonly id: number
  constructor (id: number) { this.id = id }
}

function drain (q: WaiterQueue<Node>): number[] {
  const out: number[] = []
  for (let n = q.shift(); n !== null; n = q.shift()) out.push(n.id)
  return out
}

function filled (n: number): { q: WaiterQueue<Node>, nodes: Node[] } {
  const q = new WaiterQueue<Node>()
  const nodes = Array.from({ length: n }, (_, i) => new Node(i + 1))
  for (const node of nodes) q.push(node)
  return { q, nodes }
}

t.test('first in, first out', async (t) => {
  const { q } = filled(4)
  t.equal(q.length, 4)
  t.equal(q.peek()?.id, 1, 'peek shows the oldest')
  t.same(drain(q), [1, 2, 3, 4])
  t.ok(q.isEmpty())
  t.equal(q.shift(), null, 'shift on empty')
  t.equal(q.peek(), null)
})

t.test('removal from the head, the middle and the tail keeps the rest in order', async (t) => {
  for (const [name, drop, rest] of [
    ['head', 1, [2, 3, 4]], ['middle', 3, [1, 2, 4]], ['tail', 4, [1, 2, 3]],
  ] as const) {
    const { q, nodes } = filled(4)
    const node = nodes[drop - 1] as Node
    t.ok(q.remove(node), name)
    t.equal(node.queued, false)
    t.equal(node.prev, null)
    t.equal(node.next, null)
    t.equal(q.length, 3)
    t.same(drain(q), rest, `${name}: order of the rest`)
  }
})

t.test('the only node removed empties the queue, and a push after that works', async (t) => {
  const { q, nodes } = filled(1)
  t.ok(q.remove(nodes[0] as Node))
  t.ok(q.isEmpty())
  t.equal(q.peek(), null)
  const again = new Node(9)
  q.push(again)
  t.equal(q.peek(), again)
  t.same(drain(q), [9])
})

t.test('removing a node that is not queued is a no-op that says so', async (t) => {
  const { q, nodes } = filled(2)
  t.notOk(q.remove(new Node(7)), 'never queued')
  q.remove(nodes[0] as Node)
  t.notOk(q.remove(nodes[0] as Node), 'already removed')
  t.equal(q.length, 1, 'length untouched by the no-ops')
  t.same(drain(q), [2])
})

t.test('a shifted node can be queued again, at the back', async (t) => {
  const { q } = filled(3)
  const first = q.shift() as Node
  t.equal(first.queued, false)
  q.push(first)
  t.same(drain(q), [2, 3, 1])
})
