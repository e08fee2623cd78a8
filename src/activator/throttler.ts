import { Breaker, type BreakerWaiter } from '../admission/breaker.ts'
import { createLbPolicy, defaultPolicyName, mathRandomInt, type LbPolicy, type RandomInt } from './lb-policy.ts'
import type { PodTracker } from './pod-tracker.ts'
import type { LbPolicyName } from './revision-spec.ts'

// Admission for one revision (Knative's revisionThrottler): a Breaker for the revision as a whole,
// whose capacity follows the ready endpoints, in front of per-endpoint trackers.
//
//   capacity = 0                                   no ready endpoint (requests buffer, FIFO)
//            = Infinity                            CC = 0 and >= 1 ready endpoint
//            = max(1, floor(CC x ready / N))       N = activator replicas sharing the revision
//
// Knative's cluster-IP formula; with N = 1 it equals its pod-addressing one (CC x assigned trackers).
// Invariant that makes `pick()` after admission always succeed: each admitted request holds one
// breaker slot and at most one tracker slot, so the slots in use on ready trackers are <= the
// breaker's in-flight count < capacity <= CC x ready, and some ready tracker has room. Requests
// still running on a tracker that left rotation keep their breaker slot until they end, so a
// shrinking revision sheds admissions rather than overloading the survivors.

export interface ThrottlerOptions {
  containerConcurrency: number
  /** Requests that may wait (Knative breakerQueueDepth 10000). */
  queueDepth: number
  /** Activator replicas sharing the revision's capacity; >= 1. */
  activatorCount: number
  /** Override of Knative's choice by CC; null = choose. */
  lbPolicy: LbPolicyName | null
  randomInt?: RandomInt
}

export class Throttler {
  readonly breaker: Breaker
  #containerConcurrency: number
  #activatorCount: number
  #policyOverride: LbPolicyName | null
  #policy: LbPolicy
  /** Ready trackers in dest order (stable choices for first-available and round-robin). */
  #ready: readonly PodTracker[] = []
  readonly #randomInt: RandomInt

  constructor (o: ThrottlerOptions) {
    this.#containerConcurrency = o.containerConcurrency
    this.#activatorCount = Math.max(1, o.activatorCount)
    this.#policyOverride = o.lbPolicy
    this.#randomInt = o.randomInt ?? mathRandomInt
    this.#policy = createLbPolicy(o.lbPolicy ?? defaultPolicyName(o.containerConcurrency), this.#randomInt)
    this.breaker = new Breaker({ capacity: 0, queueDepth: o.queueDepth })
  }

  get containerConcurrency (): number { return this.#containerConcurrency }
  get activatorCount (): number { return this.#activatorCount }
  get policyName (): LbPolicyName { return this.#policy.name }
  get readyCount (): number { return this.#ready.length }
  get ready (): readonly PodTracker[] { return this.#ready }
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
    return this.#policy.pick(this.#ready)
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

  setActivatorCount (n: number): void {
    const count = Math.max(1, n)
    if (count === this.#activatorCount) return
    this.#activatorCount = count
    this.#resize()
  }

  /** The breaker capacity for the current state (Knative calculateCapacity). */
  computeCapacity (): number {
    const ready = this.#ready.length
    if (ready === 0) return 0
    const cc = this.#containerConcurrency
    if (cc === 0) return Number.POSITIVE_INFINITY
    return Math.max(1, Math.floor(cc * ready / this.#activatorCount))
  }

  #resize (): void {
    this.breaker.updateCapacity(this.computeCapacity())
  }
}

function byDest (a: PodTracker, b: PodTracker): number {
  return a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0
}
