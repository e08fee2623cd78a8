// Intrusive doubly linked FIFO. The waiting object *is* the node (it carries `prev`/`next`),
// so enqueueing allocates nothing and a client that disconnects while queued is unlinked in
// O(1) (an Array would need an O(n) splice; Array.shift is O(n) too).
//
//   head -> [w1] <-> [w2] <-> [w3] <- tail
//
// A node belongs to at most one queue at a time; `queued` says whether it is linked.

export interface QueueNode {
  prev: QueueNode | null
  next: QueueNode | null
  queued: boolean
}

export class WaiterQueue<T extends QueueNode> {
  #head: T | null = null
  #tail: T | null = null
  #length = 0

  get length (): number { return this.#length }
  isEmpty (): boolean { return this.#length === 0 }

  push (node: T): void {
    node.prev = this.#tail
    node.next = null
    node.queued = true
    if (this.#tail === null) this.#head = node
    else this.#tail.next = node
    this.#tail = node
    this.#length++
  }

  /** Removes and returns the oldest node, or null. */
  shift (): T | null {
    const node = this.#head
    if (node === null) return null
    this.remove(node)
    return node
  }

  peek (): T | null { return this.#head }

  /** Unlinks `node` if it is queued here; returns whether it was. */
  remove (node: T): boolean {
    if (!node.queued) return false
    const prev = node.prev
    const next = node.next
    if (prev === null) this.#head = next as T | null
    else prev.next = next
    if (next === null) this.#tail = prev as T | null
    else next.prev = prev
    node.prev = null
    node.next = null
    node.queued = false
    this.#length--
    return true
  }
}
