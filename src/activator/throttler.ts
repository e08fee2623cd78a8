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
//
// Through the revision's private ClusterIP service (setClusterIp, cluster-ip-route.ts) there is one
// destination and it has no limit of its own (Knative: a podTracker without a breaker); the breaker
// holds the revision to CC x the ready pods behind the service, divided among the activators
// (Knative's calculateCapacity with no trackers: max(1, CC x backends / activators)), Infinity with
// CC = 0, 0 with no ready pod. kube-proxy spreads the connections, not us.
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
  /** The private ClusterIP service when it is the one destination; null = the pods. */
  #clusterIp: PodTracker | null = null
  /** Ready pods behind it (Knative's backendCount). */
  #clusterIpBackends = 0

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
  /** Ready destinations: pods, or 1 for the ClusterIP service with ready pods behind it. */
  get readyCount (): number { return this.#clusterIp !== null ? this.#assigned.length : this.#ready.length }
  /** The ClusterIP tracker while requests go through the service; null = to pods. */
  get clusterIp (): PodTracker | null { return this.#clusterIp }
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

  /** Sends everything to `tracker` (the private service), sized by `backends` ready pods; null = back to the pods. */
  setClusterIp (tracker: PodTracker | null, backends: number): void {
    this.#clusterIp = tracker
    this.#clusterIpBackends = tracker === null ? 0 : backends
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
    const service = this.#clusterIp
    if (service !== null) {
      const backends = this.#clusterIpBackends
      service.capacity = Number.POSITIVE_INFINITY
      this.#assigned = backends === 0 ? [] : [service]
      this.breaker.updateCapacity(backends === 0
        ? 0
        : cc === 0 ? Number.POSITIVE_INFINITY : Math.max(1, Math.floor(cc * backends / Math.max(1, this.#activators.count))))
      return
    }
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
