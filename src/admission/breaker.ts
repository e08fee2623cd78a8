import { WaiterQueue, type QueueNode } from './waiter-queue.ts'

/** What waits for a slot. `onAdmit` is called once the slot is owned by the waiter. */
export interface BreakerWaiter extends QueueNode {
  onAdmit (): void
}

export interface BreakerParams {
  /** Slots that may be in use at once. `Infinity` for no limit; 0 admits nothing until raised. */
  capacity: number
  /** Waiters held beyond the slots; one more is refused (Knative's ErrRequestQueueFull). */
  queueDepth: number
}

/**
 * Admission control: a counting semaphore with a bounded strictly-FIFO wait queue.
 * Knative's Breaker packs capacity and in-flight into one atomic word because goroutines race;
 * Node runs this on one thread, so plain fields are exact and the hand-off is direct: `release()`
 * passes the slot to the oldest waiter without letting a newcomer barge in.
 *
 * Expected outcomes are return values (`tryAcquire`, `enqueue`), never exceptions.
 */
export class Breaker {
  #capacity: number
  #inFlight = 0
  readonly queueDepth: number
  readonly #queue = new WaiterQueue<BreakerWaiter>()

  constructor (params: BreakerParams) {
    if (!(params.capacity >= 0)) throw new RangeError('capacity must be >= 0')
    if (!(params.queueDepth >= 0)) throw new RangeError('queueDepth must be >= 0')
    this.#capacity = params.capacity
    this.queueDepth = params.queueDepth
  }

  get capacity (): number { return this.#capacity }
  /** Slots in use. */
  get inFlight (): number { return this.#inFlight }
  /** Waiters in the queue. */
  get queued (): number { return this.#queue.length }

  /** Takes a slot if one is free and nobody is waiting ahead. */
  tryAcquire (): boolean {
    if (this.#inFlight < this.#capacity && this.#queue.isEmpty()) {
      this.#inFlight++
      return true
    }
    return false
  }

  /** Queues `waiter` for the next free slot; false when the queue is full. */
  enqueue (waiter: BreakerWaiter): boolean {
    if (this.#queue.length >= this.queueDepth) return false
    this.#queue.push(waiter)
    return true
  }

  /** Takes `waiter` out of the queue (client gone, timeout). False if it was not queued. */
  cancel (waiter: BreakerWaiter): boolean {
    return this.#queue.remove(waiter)
  }

  /** Returns a slot: hands it straight to the oldest waiter, if any. */
  release (): void {
    if (this.#inFlight <= this.#capacity) {
      const next = this.#queue.shift()
      if (next !== null) {
        next.onAdmit()
        return
      }
    }
    this.#inFlight--
  }

  /** Resizes the semaphore (activator: capacity follows ready pods). Growth admits waiters. */
  updateCapacity (capacity: number): void {
    if (!(capacity >= 0)) throw new RangeError('capacity must be >= 0')
    this.#capacity = capacity
    while (this.#inFlight < this.#capacity) {
      const next = this.#queue.shift()
      if (next === null) break
      this.#inFlight++
      next.onAdmit()
    }
  }

  /** Oldest waiter, without removing it (for queue-timeout sweeps). */
  oldestWaiter (): BreakerWaiter | null { return this.#queue.peek() }
}
