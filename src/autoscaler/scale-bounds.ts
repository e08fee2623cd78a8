// From the decider's desired count to the replica count to apply: Knative's KPA scaler
// (pkg/reconciler/autoscaling/kpa/scaler.go `scale` and `handleScaleToZero`) as pure functions.
// The decider says "0"; whether and when the last pod really goes depends on min-scale, initial
// scale, whether scale to zero is enabled, how long the revision has been active or inactive,
// whether the activator is in the path, and the grace and pod retention periods.
//
// The one I/O step of Knative's version, probing the activator through the revision's service,
// is an input (`activatorReady`); when it is false the result asks the caller to start that
// probe (1 s period, 45 s timeout) and to come back when it answers.

/** The decider has no decision yet (no metrics). */
export const SCALE_UNKNOWN = -1
/** Added to the progress deadline before an activation that never became ready is given up. */
export const ACTIVATION_TIMEOUT_BUFFER_MS = 30_000
/** Knative's default progress deadline (config-deployment progress-deadline). */
export const DEFAULT_PROGRESS_DEADLINE_MS = 600_000
/** How often and how long the activator probe runs while waiting to scale to zero. */
export const ACTIVATOR_PROBE_PERIOD_MS = 1_000
export const ACTIVATOR_PROBE_TIMEOUT_MS = 45_000
/** Re-check delay when the activator is already in the path and the PA just went inactive. */
export const PROXY_MODE_RECHECK_MS = 3_000

/**
 * The PodAutoscaler's Active condition: activating (Unknown: scaling up, requests buffered),
 * active (True) or inactive (False: scaled, or scaling, to zero).
 */
export type ActiveState = 'activating' | 'active' | 'inactive'

/** Knative's applyBounds: clamp into [min, max], max 0 meaning unbounded. Pre: 0 <= min. */
export function applyBounds (minScale: number, maxScale: number, x: number): number {
  if (x < minScale) return minScale
  if (maxScale !== 0 && x > maxScale) return maxScale
  return x
}

export interface BoundsInput {
  /** min-scale (annotation or config). */
  readonly minScale: number
  /** max-scale (annotation or config); 0 = unbounded. */
  readonly maxScale: number
  readonly initialScale: number
  readonly reachable: boolean
  /** The scale target has once reached its initial scale (ScaleTargetInitialized). */
  readonly scaleTargetInitialized: boolean
}

/**
 * The bounds the desired count is clamped into. min-scale is ignored while the revision is
 * unreachable (so an old revision can go to zero); initial scale > 1 acts as a floor until the
 * target first reaches it (also ignored while unreachable).
 */
export function effectiveScaleBounds (input: BoundsInput): { readonly minScale: number, readonly maxScale: number } {
  let minScale = input.reachable ? input.minScale : 0
  if (input.initialScale > 1 && !input.scaleTargetInitialized && input.reachable) {
    minScale = Math.max(input.initialScale, minScale)
  }
  return { minScale, maxScale: input.maxScale }
}

export interface ScaleInput extends BoundsInput {
  readonly nowMs: number
  /** The decider's desired pod count, SCALE_UNKNOWN (-1) before it has data. */
  readonly desiredScale: number
  /** config-autoscaler enable-scale-to-zero. */
  readonly enableScaleToZero: boolean
  /** The PA's Active condition and when it last changed. */
  readonly activeState: ActiveState
  readonly activeStateSinceMs: number
  /** The revision's stable window (an idle revision stays at 1 pod for this long after activity). */
  readonly stableWindowMs: number
  /** Progress deadline + ACTIVATION_TIMEOUT_BUFFER_MS: an activation failing for longer is given up. */
  readonly activationTimeoutMs: number
  /** The revision's target-burst-capacity; -1 means the activator is always in the path (no probe). */
  readonly targetBurstCapacity: number
  /** Result of probing the activator through the revision's service (Knative's sync activatorProbe). */
  readonly activatorReady: boolean
  /** config-autoscaler scale-to-zero-grace-period. */
  readonly scaleToZeroGracePeriodMs: number
  /** The revision's scale-to-zero-pod-retention-period (ignored while unreachable). */
  readonly scaleToZeroPodRetentionMs: number
  /** Since when the activator has been in the path (SKS ActivatorEndpointsPopulated), null if not. */
  readonly activatorInPathSinceMs: number | null
  /** The SKS is in Proxy mode (only changes the re-check hint). */
  readonly proxyMode: boolean
}

export interface ScaleDecision {
  /** The count to report as the PA's desired scale (SCALE_UNKNOWN possible). */
  readonly desiredScale: number
  /** Whether to apply `desiredScale` to the scale target now (it may already be at it). */
  readonly apply: boolean
  /** Re-evaluate after this long even if nothing changes (Knative's enqueue-after), or null. */
  readonly requeueAfterMs: number | null
  /** Start the async activator probe; re-evaluate when it succeeds or times out. */
  readonly startActivatorProbe: boolean
}

function decision (desiredScale: number, apply: boolean, requeueAfterMs: number | null = null, startActivatorProbe = false): ScaleDecision {
  return { desiredScale, apply, requeueAfterMs, startActivatorProbe }
}

/** Knative's scale(): bounds, initial scale, then the scale-to-zero rules. */
export function decideScale (input: ScaleInput): ScaleDecision {
  if (input.desiredScale < 0 && input.activeState !== 'activating') {
    // No metrics yet: leave the target alone.
    return decision(input.desiredScale, false)
  }
  const bounds = effectiveScaleBounds(input)
  const bounded = applyBounds(bounds.minScale, bounds.maxScale, input.desiredScale)
  return handleScaleToZero(input, bounded)
}

/** Knative's handleScaleToZero for an already bounded desired count. */
export function handleScaleToZero (input: ScaleInput, desiredScale: number): ScaleDecision {
  if (desiredScale !== 0) return decision(desiredScale, true)
  if (!input.enableScaleToZero) return decision(1, true)

  const inStateForMs = input.nowMs - input.activeStateSinceMs
  switch (input.activeState) {
    case 'activating':
      // Stuck activating past the progress deadline: give up and scale to 0.
      if (inStateForMs > input.activationTimeoutMs) return decision(desiredScale, true)
      return decision(SCALE_UNKNOWN, false, input.activationTimeoutMs)

    case 'active':
      if (inStateForMs >= input.stableWindowMs) {
        // Long enough idle: return 0 without applying it, so the PA is marked inactive first.
        return decision(desiredScale, false, input.proxyMode ? PROXY_MODE_RECHECK_MS : null)
      }
      // Keep one pod for the rest of the stable window.
      return decision(1, true, input.stableWindowMs - inStateForMs)

    case 'inactive': {
      // With TBC = -1 the activator is always in the path; otherwise it must answer first.
      const activatorInPath = input.targetBurstCapacity === -1 || input.activatorReady
      if (!activatorInPath) return decision(desiredScale, false, null, true)

      const lastPodRetentionMs = input.reachable ? input.scaleToZeroPodRetentionMs : 0
      // Most conservative rule first: inactive for both the grace and the retention period.
      if (inStateForMs >= Math.max(input.scaleToZeroGracePeriodMs, lastPodRetentionMs)) {
        return decision(desiredScale, true)
      }
      // The retention period is a hard floor regardless of how long the activator is in path.
      if (lastPodRetentionMs > 0 && inStateForMs < lastPodRetentionMs) {
        return decision(desiredScale, false, lastPodRetentionMs - inStateForMs)
      }
      // Fast path: the activator has been in the path for the grace period already.
      const proxyForMs = input.activatorInPathSinceMs === null ? 0 : input.nowMs - input.activatorInPathSinceMs
      const remainingMs = input.scaleToZeroGracePeriodMs - proxyForMs
      if (remainingMs <= 0) return decision(desiredScale, true)
      return decision(desiredScale, false, remainingMs)
    }
  }
}
