// Breaker: the semaphore with a bounded FIFO queue that the sidecar (containerConcurrency) and the
// activator's throttler (capacity = ready pods x CC) admit through. The cases follow Knative's
// pkg/queue/breaker_test.go (Reserve/Maybe overload, queueing, cancel, UpdateConcurrency,
// semaphore capacity), with Sluice's differences stated where they apply:
// - Knative's QueueDepth counts in-flight + pending together (totalSlots = QueueDepth +
//   MaxConcurrency); Sluice's queueDepth counts waiters only, so {capacity 1, queueDepth 1} holds
//   the same two requests as Knative's {MaxConcurrency 1, QueueDepth 1};
// - Knative panics on QueueDepth 0; Sluice allows it (no queue: over capacity is refused at once);
// - Knative wakes waiters in no set order; Sluice hands each freed slot to the oldest waiter.
import t from 'tap'
import { Breaker, type BreakerWaiter } from '../../src/admission/breaker.ts'
import type { QueueNode } from '../../src/admission/waiter-queue.ts'

/** A queued request: records the order in which waiters were admitted. */
class Waiter implements BreakerWaiter {
  prev: QueueNode | null = null
  next: QueueNode | null = null
  queued = false
  admitted = 0
  readonly name: string
  readonly log: string[]
  constructor (name: string, log: string[]) {
    this.name = name
    this.log = log
  }

  onAdmit (): void {
    this.admitted++
    this.log.push(this.name)
  }
}

function waiters (n: number, log: string[]): Waiter[] {
  return Array.from({ length: n }, (_, i) => new Waiter(`w${i + 1}`, log))
}

t.test('refuses invalid parameters (Knative TestBreakerInvalidConstructor)', async (t) => {
  const cases: Array<[string, { capacity: number, queueDepth: number }]> = [
    ['negative capacity', { capacity: -1, queueDepth: 1 }],
    ['NaN capacity', { capacity: Number.NaN, queueDepth: 1 }],
    ['negative queue depth', { capacity: 1, queueDepth: -1 }],
    ['NaN queue depth', { capacity: 1, queueDepth: Number.NaN }],
  ]
  for (const [name, params] of cases) t.throws(() => new Breaker(params), RangeError, name)
  const b = new Breaker({ capacity: 1, queueDepth: 1 })
  t.throws(() => { b.updateCapacity(-1) }, RangeError, 'updateCapacity(-1)')
  t.throws(() => { b.updateCapacity(Number.NaN) }, RangeError, 'updateCapacity(NaN)')
  t.equal(b.capacity, 1, 'a refused update leaves the capacity alone')
})

t.test('admits up to capacity, then queues up to the depth, then refuses (Knative TestBreakerOverload)', async (t) => {
  const log: string[] = []
  const b = new Breaker({ capacity: 2, queueDepth: 2 })
  t.ok(b.tryAcquire())
  t.ok(b.tryAcquire())
  t.notOk(b.tryAcquire(), 'no third slot')
  t.equal(b.inFlight, 2)
  const [w1, w2, w3] = waiters(3, log)
  t.ok(b.enqueue(w1))
  t.ok(b.enqueue(w2))
  t.notOk(b.enqueue(w3), 'queue full: the caller answers 503 (ErrRequestQueueFull)')
  t.equal(w3.queued, false, 'a refused waiter is not linked')
  t.equal(b.queued, 2)
  t.same(log, [], 'nobody admitted while the slots are held')
})

t.test('a released slot goes to the oldest waiter, never to a newcomer (FIFO hand-off)', async (t) => {
  const log: string[] = []
  const b = new Breaker({ capacity: 1, queueDepth: 3 })
  t.ok(b.tryAcquire())
  for (const w of waiters(3, log)) t.ok(b.enqueue(w))
  t.notOk(b.tryAcquire(), 'a newcomer cannot barge in while others wait, even after a release')
  b.release()
  t.same(log, ['w1'])
  t.equal(b.inFlight, 1, 'the slot moved to w1 without being freed')
  t.notOk(b.tryAcquire(), 'still nobody barges in: w2 and w3 wait')
  b.release()
  b.release()
  t.same(log, ['w1', 'w2', 'w3'], 'admitted in arrival order')
  t.equal(b.queued, 0)
  b.release()
  t.equal(b.inFlight, 0, 'the last release frees the slot')
  t.ok(b.tryAcquire(), 'and the next request takes it at once')
})

t.test('one slot and one queued: the breaker holds two, the third fails, the rest succeed (Knative TestBreakerNoOverload)', async (t) => {
  const log: string[] = []
  const b = new Breaker({ capacity: 1, queueDepth: 1 })
  const ws = waiters(4, log)
  t.ok(b.tryAcquire(), 'request 1 runs')
  t.ok(b.enqueue(ws[0]), 'request 2 waits')
  t.notOk(b.enqueue(ws[1]), 'request 3 overshoots (Knative TestBreakerReserveOverload)')
  b.release() // request 1 done: request 2 runs
  t.ok(b.enqueue(ws[2]), 'a new request fits in the queue again')
  b.release() // request 2 done: the new one runs
  t.same(log, ['w1', 'w3'])
  b.release()
  t.equal(b.inFlight, 0)
  t.equal(b.queued, 0)
})

t.test('capacity 0 admits nothing until raised; raising it admits the waiters in order (Knative TestBreakerQueueing)', async (t) => {
  const log: string[] = []
  const b = new Breaker({ capacity: 0, queueDepth: 3 })
  t.notOk(b.tryAcquire(), 'no slot at capacity 0 (activator: no ready pod)')
  const ws = waiters(3, log)
  for (const w of ws) t.ok(b.enqueue(w))
  b.updateCapacity(2)
  t.same(log, ['w1', 'w2'], 'growth admits as many waiters as new slots, oldest first')
  t.equal(b.inFlight, 2)
  t.equal(b.queued, 1)
  b.updateCapacity(2)
  t.same(log, ['w1', 'w2'], 'the same capacity again admits nobody')
  b.release()
  t.same(log, ['w1', 'w2', 'w3'])
  t.equal(ws[0].admitted + ws[1].admitted + ws[2].admitted, 3, 'each waiter admitted exactly once')
})

t.test('Infinity capacity is unlimited, and raising to Infinity admits every waiter', async (t) => {
  const unlimited = new Breaker({ capacity: Number.POSITIVE_INFINITY, queueDepth: 0 })
  for (let i = 0; i < 10_000; i++) if (!unlimited.tryAcquire()) { t.fail(`refused request ${i}`); break }
  t.equal(unlimited.inFlight, 10_000)

  const log: string[] = []
  const b = new Breaker({ capacity: 0, queueDepth: 5 })
  for (const w of waiters(5, log)) b.enqueue(w)
  b.updateCapacity(Number.POSITIVE_INFINITY) // throttler: a ready pod with containerConcurrency 0
  t.same(log, ['w1', 'w2', 'w3', 'w4', 'w5'])
  t.equal(b.queued, 0)
  t.ok(b.tryAcquire())
})

t.test('queue depth 0: over capacity is refused at once (Knative would panic on it)', async (t) => {
  const b = new Breaker({ capacity: 1, queueDepth: 0 })
  t.ok(b.tryAcquire())
  t.notOk(b.enqueue(new Waiter('w', [])))
  t.equal(b.queued, 0)
})

t.test('capacity lowered while loaded: releases free slots until in-flight is under the new capacity (Knative TestSemaphoreUpdateCapacity)', async (t) => {
  const log: string[] = []
  const b = new Breaker({ capacity: 3, queueDepth: 2 })
  for (let i = 0; i < 3; i++) t.ok(b.tryAcquire())
  const ws = waiters(2, log)
  b.enqueue(ws[0])
  b.enqueue(ws[1])
  b.updateCapacity(1)
  t.equal(b.capacity, 1)
  t.equal(b.inFlight, 3, 'lowering does not take slots away from running requests')
  b.release()
  t.same(log, [], '2 in flight over capacity 1: the freed slot is not handed on')
  t.equal(b.inFlight, 2)
  b.release()
  t.same(log, [], '1 in flight at capacity 1: still no room')
  t.equal(b.inFlight, 1)
  b.release()
  t.same(log, ['w1'], 'now a release hands the slot to the oldest waiter')
  t.equal(b.inFlight, 1)
  b.updateCapacity(2)
  t.same(log, ['w1', 'w2'], 'raising again while loaded admits the next waiter')
  t.equal(b.inFlight, 2)
})

t.test('capacity lowered to 0 while loaded: running requests finish, waiters stay queued (Knative TestBreakerUpdateConcurrency)', async (t) => {
  const log: string[] = []
  const b = new Breaker({ capacity: 1, queueDepth: 1 })
  t.ok(b.tryAcquire())
  const [w] = waiters(1, log)
  b.enqueue(w)
  b.updateCapacity(0)
  t.equal(b.capacity, 0)
  b.release()
  t.same(log, [], 'no slot to hand over at capacity 0')
  t.equal(b.inFlight, 0)
  t.equal(b.queued, 1)
  b.updateCapacity(1)
  t.same(log, ['w1'])
})

t.test('a cancelled waiter (client gone, queue timeout) leaves the queue and is never admitted (Knative TestBreakerCancel)', async (t) => {
  const log: string[] = []
  const b = new Breaker({ capacity: 0, queueDepth: 2 })
  const [w1, w2, w3] = waiters(3, log)
  t.ok(b.enqueue(w1))
  t.ok(b.enqueue(w2))
  t.notOk(b.enqueue(w3), 'full')
  t.ok(b.cancel(w1), 'the oldest waiter times out')
  t.notOk(b.cancel(w1), 'cancelling twice is a no-op')
  t.equal(b.oldestWaiter(), w2, 'the next one moves to the head')
  t.ok(b.enqueue(w3), 'its place is free for a newcomer')
  t.ok(b.cancel(w3), 'the newest waiter can leave too (tail)')
  t.notOk(b.cancel(new Waiter('stranger', log)), 'a waiter never queued is not "cancelled"')
  b.updateCapacity(5)
  t.same(log, ['w2'], 'only the waiter still queued is admitted')
  t.equal(b.inFlight, 1)
  t.equal(b.oldestWaiter(), null)
})

t.test('a waiter cancelled from the middle keeps the others in order', async (t) => {
  const log: string[] = []
  const b = new Breaker({ capacity: 0, queueDepth: 4 })
  const ws = waiters(4, log)
  for (const w of ws) b.enqueue(w)
  t.ok(b.cancel(ws[1]))
  t.ok(b.cancel(ws[2]))
  t.equal(b.queued, 2)
  b.updateCapacity(10)
  t.same(log, ['w1', 'w4'])
})

t.test('oldestWaiter names the head without removing it (the activator\'s queue-timeout sweep)', async (t) => {
  const b = new Breaker({ capacity: 0, queueDepth: 2 })
  t.equal(b.oldestWaiter(), null)
  const [w1, w2] = waiters(2, [])
  b.enqueue(w1)
  b.enqueue(w2)
  t.equal(b.oldestWaiter(), w1)
  t.equal(b.oldestWaiter(), w1, 'peeking twice does not consume')
  t.equal(b.queued, 2)
})

t.test('a waiter admitted, released and queued again is handled as new', async (t) => {
  const log: string[] = []
  const b = new Breaker({ capacity: 0, queueDepth: 1 })
  const [w] = waiters(1, log)
  b.enqueue(w)
  b.updateCapacity(1)
  t.equal(w.queued, false, 'unlinked once admitted')
  b.updateCapacity(0)
  b.release()
  t.ok(b.enqueue(w), 'the same node queues again')
  b.updateCapacity(1)
  t.same(log, ['w1', 'w1'])
})
