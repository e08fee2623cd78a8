// The revision state the KPA reconciler derives after each decision (pkg/reconciler/autoscaling/
// kpa/kpa.go): whether the activator stays in the request path, and the Active condition that
// the scale-to-zero rules in scale-bounds.ts read back. Pure functions; the caller keeps the
// state and the time it last changed.

import type { ActiveState, BoundsInput } from './scale-bounds.ts'

/**
 * Whether the activator should be in the revision's path (SKS Proxy mode) rather than traffic
 * going straight to pods (Serve mode). Serve only when pods are wanted and there is excess burst
 * capacity (>= 0); an unknown decision for an inactive revision stays proxied.
 */
export function activatorInPath (want: number, excessBurstCapacity: number): boolean {
  return !(want > 0 && excessBurstCapacity >= 0)
}

/** Ready pods needed to count as active: initial scale until first reached, then max(min, 1). */
export function activeThreshold (input: BoundsInput): number {
  const minScale = input.reachable ? input.minScale : 0
  if (!input.scaleTargetInitialized) return Math.max(minScale, input.initialScale)
  return Math.max(minScale, 1)
}

export interface ActiveStateInput extends BoundsInput {
  /** The scale decided this round (SCALE_UNKNOWN when no decision). */
  readonly want: number
  readonly readyPods: number
  readonly current: ActiveState
  /** The revision has a service to route to (Knative: PA status ServiceName set). Default true. */
  readonly hasService?: boolean
}

export interface ActiveStateResult {
  readonly state: ActiveState
  /** Condition reason, as Knative sets it. */
  readonly reason: 'NoTraffic' | 'TimedOut' | 'Queued' | null
  /** The target has reached its initial scale (sticky: once true, keep it true). */
  readonly scaleTargetInitialized: boolean
}

/**
 * Knative's computeActiveCondition:
 *
 *   want | ready  | min | current    | new
 *   0    | any    | any | any        | inactive (TimedOut if it was activating)
 *   >0   | < min  | any | any        | activating
 *   >0   | >= min | any | any        | active
 *   -1   | < min  | any | inactive   | inactive
 *   -1   | < min  | any | other      | activating
 *   -1   | >= min | 0   | any        | inactive
 *   -1   | >= min | >0  | inactive   | inactive
 *   -1   | >= min | >0  | other      | active
 */
export function computeActiveState (input: ActiveStateInput): ActiveStateResult {
  const minReady = activeThreshold(input)
  const scaleTargetInitialized = input.scaleTargetInitialized ||
    (input.readyPods >= minReady && (input.hasService ?? true))

  if (input.want === 0 || minReady === 0) {
    const timedOut = input.current === 'activating' && minReady > 0
    return { state: 'inactive', reason: timedOut ? 'TimedOut' : 'NoTraffic', scaleTargetInitialized }
  }
  if (input.readyPods < minReady) {
    if (input.want > 0 || input.current !== 'inactive') {
      return { state: 'activating', reason: 'Queued', scaleTargetInitialized }
    }
    return { state: 'inactive', reason: 'NoTraffic', scaleTargetInitialized }
  }
  if (input.want > 0 || input.current !== 'inactive') {
    return { state: 'active', reason: null, scaleTargetInitialized }
  }
  // An unknown decision does not wake an inactive revision.
  return { state: 'inactive', reason: null, scaleTargetInitialized }
}
