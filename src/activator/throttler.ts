import { Breaker, type BreakerWaiter } from '../admission/breaker.ts'
import { slicePositions, slotCapacity, type ActivatorSlot } from './activator-slice.ts'
import { createLbPolicy, defaultPolicyName, mathRandomInt, type LbPolicy, type RandomInt } from './lb-policy.ts'
import type { PodTracker } from './pod-tracker.ts'
import type { LbPolicyName } from './revision-spec.ts'

// Admission for one revision (Knative's revisionThrottler): a Breaker for the revision as a whole,
// whose capacity follows the ready endpoints, in front of per-endpoint trackers.
//
//   capacity = 0                            no ready endpoint (requests buffer, FIFO)
//            = Infinity                     CC = 0 and >= 1 ready endpoint (every endpoint, any replica)
//            = sum of the assigned slots    CC > 0: this replica's slice of the ready endpoints, each
//                                           with the share of CC it may use (activator-slice.ts)
//
// With one activator that is CC x ready (Knative's pod-addressing formula, assignedTrackers = all).
// Invariant that makes `pick()` after admission always succeed: each admitted request holds one
// breaker slot and at most one tracker slot, so the slots in use on assigned trackers are <= the
// breaker's in-flight count < capacity = their summed limits, and some assigned tracker has room.
// Requests still running on a tracker that left rotation (or the slice) keep their breaker slot
// until they end, so a shrinking revision sheds admissions rather than overloading the survivors.

export interface ThrottlerOptions {
  containerConcurrency: number
  /** Requests that may wait (Knative breakerQueueDepth 10000). */
  queueDepth: number
  /** This replica's place among the activators sharing the revision. */
  activators: ActivatorSlot
  /** Override of Knative's choice by CC; null = choose. */
  lbPolicy: LbPolicyName | null
  randomInt?: RandomInt
}

export class Throttler {
  readonly breaker: Breaker
  #containerConcurrency: number
  #activators: ActivatorSlot
  #policyOverride: LbPolicyName | null
  #policy: LbPolicy
  /** Ready trackers in dest order. */
  #ready: readonly PodTracker[] = []
  /** This replica's slice of #ready, in dest order (stable choices for first-available and round-robin). */
  #assigned: readonly PodTracker[] = []
  readonly #randomInt: RandomInt

  constructor (o: ThrottlerOptions) {
    this.#containerConcurrency = o.containerConcurrency
    this.#activators = o.activators
    this.#policyOverride = o.lbPolicy
    this.#randomInt = o.randomInt ?? mathRandomInt
    this.#policy = createLbPolicy(o.lbPolicy ?? defaultPolicyName(o.containerConcurrency), this.#randomInt)
    this.breaker = new Breaker({ capacity: 0, queueDepth: o.queueDepth })
  }

  get containerConcurrency (): number { return this.#containerConcurrency }
  get activators (): ActivatorSlot { return this.#activators }
  get policyName (): LbPolicyName { return this.#policy.name }
  get readyCount (): number { return this.#ready.length }
  get ready (): readonly PodTracker[] { return this.#ready }
  /** The ready trackers this replica sends to. */
  get assigned (): readonly PodTracker[] { return this.#assigned }
  get capacity (): number { return this.breaker.capacity }
  /** Requests admitted and not yet ended. */
  get inFlight (): number { return this.breaker.inFlight }
  /** Requests waiting for capacity. */
  get queued (): number { return this.breaker.queued }

  // --- request path ------------------------------------------------------------------------

  tryAcquire (): boolean { return this.breaker.tryAcquire() }
  enqueue (waiter: BreakerWaiter): boolean { return this.breaker.enqueue(waiter) }
  cancel (waiter: BreakerWaiter): boolean { return this.breaker.cancel(waiter) }
  /** Returns an admission slot (and hands it to the oldest waiter). */
  release (): void { this.breaker.release() }

  /** After admission: a ready endpoint with room, already reserved; null if none (see invariant). */
  pick (): PodTracker | null {
    return this.#policy.pick(this.#assigned)
  }

  // --- control plane -----------------------------------------------------------------------

  /**
   * Sets the ready endpoints and resizes the breaker. Trackers go in first, capacity second:
   * growing capacity admits waiters synchronously, and they pick from the new list.
   */
  setReady (ready: readonly PodTracker[]): void {
    this.#ready = [...ready].sort(byDest)
    this.#resize()
  }

  setContainerConcurrency (cc: number): void {
    if (cc === this.#containerConcurrency) return
    this.#containerConcurrency = cc
    if (this.#policyOverride === null) this.#policy = createLbPolicy(defaultPolicyName(cc), this.#randomInt)
    this.#resize()
  }

  setPolicyOverride (name: LbPolicyName | null): void {
    if (name === this.#policyOverride) return
    this.#policyOverride = name
    const next = name ?? defaultPolicyName(this.#containerConcurrency)
    if (next !== this.#policy.name) this.#policy = createLbPolicy(next, this.#randomInt)
  }

  setActivators (slot: ActivatorSlot): void {
    if (slot.index === this.#activators.index && slot.count === this.#activators.count) return
    this.#activators = slot
    this.#resize()
  }

  /**
   * Works out this replica's slice and each assigned tracker's limit, then the breaker capacity
   * (Knative updateCapacity + calculateCapacity). Trackers first: growth admits waiters at once.
   */
  #resize (): void {
    const ready = this.#ready
    const cc = this.#containerConcurrency
    if (cc === 0 || ready.length === 0) {
      for (const t of ready) t.capacity = Number.POSITIVE_INFINITY
      this.#assigned = ready
      this.breaker.updateCapacity(ready.length === 0 ? 0 : Number.POSITIVE_INFINITY)
      return
    }
    const positions = slicePositions(ready.length, this.#activators)
    const assigned: PodTracker[] = []
    let capacity = 0
    for (const p of positions) {
      const t = ready[p]
      if (t === undefined) continue
      t.capacity = slotCapacity(cc, p, ready.length, this.#activators)
      capacity += t.capacity
      assigned.push(t)
    }
    this.#assigned = assigned
    this.breaker.updateCapacity(capacity)
  }
}

function byDest (a: PodTracker, b: PodTracker): number {
  return a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0
}
