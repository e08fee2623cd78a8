import type { LbPolicyName } from './revision-spec.ts'
import type { PodTracker } from './pod-tracker.ts'

// Which endpoint gets the next request (Knative's lb_policy.go). A policy is called only after the
// revision's breaker admitted the request, and returns a tracker it has already reserved, or null
// when no endpoint has room (cannot happen while capacity <= CC x endpoints, see throttler.ts).
// `targets` is the revision's ready trackers sorted by dest; policies never keep a reference to it.
//
// Knative picks by containerConcurrency: 0 -> random choice of 2 (power of two choices by in-flight
// count), 1..3 -> first available (packs the first pods, so the others can scale down), >= 4 -> round
// robin from after the last pick. A revision may override that (RevisionSpec.lbPolicy); every policy
// then still respects the per-endpoint limit.

export interface LbPolicy {
  readonly name: LbPolicyName
  pick (targets: readonly PodTracker[]): PodTracker | null
}

export type RandomInt = (n: number) => number

/** A uniformly random integer in [0, n). */
export function mathRandomInt (n: number): number {
  return Math.floor(Math.random() * n)
}

/** Knative's choice for a containerConcurrency. */
export function defaultPolicyName (containerConcurrency: number): LbPolicyName {
  if (containerConcurrency === 0) return 'random-choice-2'
  if (containerConcurrency <= 3) return 'first-available'
  return 'round-robin'
}

export function createLbPolicy (name: LbPolicyName, randomInt: RandomInt = mathRandomInt): LbPolicy {
  switch (name) {
    case 'random-choice-2': return new RandomChoice2Policy(randomInt)
    case 'first-available': return FIRST_AVAILABLE
    case 'round-robin': return new RoundRobinPolicy()
  }
}

/**
 * Power of two choices: draw two distinct trackers at random, take the one with fewer requests in
 * flight (a coin decides ties). Knative uses it for CC=0, where every tracker always has room; with
 * an override on a limited revision, a full pick yields to the other, then to a scan.
 */
export class RandomChoice2Policy implements LbPolicy {
  readonly name = 'random-choice-2'
  readonly #randomInt: RandomInt

  constructor (randomInt: RandomInt = mathRandomInt) {
    this.#randomInt = randomInt
  }

  pick (targets: readonly PodTracker[]): PodTracker | null {
    const l = targets.length
    if (l === 0) return null
    if (l === 1) {
      const only = targets[0]
      return only !== undefined && only.tryReserve() ? only : null
    }
    let r1 = 0
    let r2 = 1
    if (l > 2) {
      r1 = this.#randomInt(l)
      // Draw from the l-1 others: shift the upper part so r2 never equals r1.
      r2 = this.#randomInt(l - 1)
      if (r2 >= r1) r2++
    }
    let pick = targets[r1]
    let alt = targets[r2]
    if (pick === undefined || alt === undefined) return null
    if (pick.inFlight > alt.inFlight || (pick.inFlight === alt.inFlight && this.#randomInt(2) === 0)) {
      const t = pick; pick = alt; alt = t
    }
    if (pick.tryReserve()) return pick
    if (alt.tryReserve()) return alt
    // Both full (only with a per-endpoint limit): any tracker with room, from a random start.
    const start = this.#randomInt(l)
    for (let i = 0; i < l; i++) {
      const t = targets[(start + i) % l]
      if (t !== undefined && t.tryReserve()) return t
    }
    return null
  }
}

/** The first tracker (in dest order) with room. */
export class FirstAvailablePolicy implements LbPolicy {
  readonly name = 'first-available'

  pick (targets: readonly PodTracker[]): PodTracker | null {
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]
      if (t !== undefined && t.tryReserve()) return t
    }
    return null
  }
}

const FIRST_AVAILABLE = new FirstAvailablePolicy()

/** The next tracker with room, starting after the last pick. One instance per revision. */
export class RoundRobinPolicy implements LbPolicy {
  readonly name = 'round-robin'
  #index = 0

  pick (targets: readonly PodTracker[]): PodTracker | null {
    const l = targets.length
    // The list may have shrunk since the last pick.
    if (this.#index >= l) this.#index = 0
    for (let i = 0; i < l; i++) {
      const p = (this.#index + i) % l
      const t = targets[p]
      if (t !== undefined && t.tryReserve()) {
        this.#index = p + 1
        return t
      }
    }
    return null
  }
}
