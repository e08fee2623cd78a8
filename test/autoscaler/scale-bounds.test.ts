// Replays Knative's pkg/reconciler/autoscaling/kpa/scaler_test.go (TestScaler,
// TestDisableScaleToZero) against the pure decideScale().
import t from 'tap'
import {
  ACTIVATION_TIMEOUT_BUFFER_MS, SCALE_UNKNOWN, applyBounds, decideScale, effectiveScaleBounds,
  type ScaleInput,
} from '../../src/autoscaler/scale-bounds.ts'

// kpa_test.go constants.
const GRACE_MS = 60_000
const STABLE_MS = 5 * 60_000
const PA_STABLE_MS = 45_000
const PROGRESS_DEADLINE_MS = 121_000
const ACTIVATION_TIMEOUT_MS = PROGRESS_DEADLINE_MS + ACTIVATION_TIMEOUT_BUFFER_MS
const NOW = 10_000_000

/** A freshly created PA: activating since now, not initialized, reachability unknown (reachable). */
function input (over: Partial<ScaleInput>): ScaleInput {
  return {
    nowMs: NOW,
    desiredScale: 0,
    minScale: 0,
    maxScale: 0,
    initialScale: 1,
    reachable: true,
    scaleTargetInitialized: false,
    enableScaleToZero: true,
    activeState: 'activating',
    activeStateSinceMs: NOW,
    stableWindowMs: STABLE_MS,
    activationTimeoutMs: ACTIVATION_TIMEOUT_MS,
    targetBurstCapacity: 200,
    activatorReady: true,
    scaleToZeroGracePeriodMs: GRACE_MS,
    scaleToZeroPodRetentionMs: 0,
    activatorInPathSinceMs: null,
    proxyMode: false,
    ...over,
  }
}

interface Row {
  label: string
  startReplicas: number
  in: Partial<ScaleInput>
  wantReplicas: number
  /** A patch of the scale target happens (apply and different from the current replicas). */
  wantScaling: boolean
  /** Knative counts enqueue callbacks; here: a re-check delay is returned. */
  wantRequeue?: boolean
  wantAsyncProbe?: boolean
}

const active = (agoMs: number): Partial<ScaleInput> => ({ activeState: 'active', activeStateSinceMs: NOW - agoMs })
const inactive = (agoMs: number): Partial<ScaleInput> => ({ activeState: 'inactive', activeStateSinceMs: NOW - agoMs })
const activating = (agoMs: number): Partial<ScaleInput> => ({ activeState: 'activating', activeStateSinceMs: NOW - agoMs })
const proxyFor = (ms: number): Partial<ScaleInput> => ({ activatorInPathSinceMs: NOW - ms })

const ROWS: Row[] = [
  { label: 'waits to scale to zero (just before idle period)', startReplicas: 1, in: active(STABLE_MS - 1000), wantReplicas: 1, wantScaling: false, wantRequeue: true },
  {
    label: 'waits to scale to zero (just before idle period), custom PA window', startReplicas: 1,
    in: { ...active(PA_STABLE_MS - 1000), stableWindowMs: PA_STABLE_MS }, wantReplicas: 1, wantScaling: false, wantRequeue: true,
  },
  {
    label: 'custom PA window, check for standard window, no probe', startReplicas: 1,
    in: { ...active(STABLE_MS), stableWindowMs: PA_STABLE_MS }, wantReplicas: 0, wantScaling: false,
  },
  { label: 'scale to 1 waiting for idle expires', startReplicas: 10, in: active(STABLE_MS - 1000), wantReplicas: 1, wantScaling: true, wantRequeue: true },
  { label: 'waits to scale to zero after idle period', startReplicas: 1, in: active(STABLE_MS), wantReplicas: 0, wantScaling: false },
  {
    label: 'waits to scale to zero after idle period; sks in proxy mode', startReplicas: 1,
    in: { ...active(STABLE_MS), proxyMode: true }, wantReplicas: 0, wantScaling: false, wantRequeue: true,
  },
  {
    label: 'waits to scale to zero after idle period (custom PA window)', startReplicas: 1,
    in: { ...active(PA_STABLE_MS), stableWindowMs: PA_STABLE_MS }, wantReplicas: 0, wantScaling: false,
  },
  {
    label: 'can scale to zero after grace period, but 0 PA retention', startReplicas: 1,
    in: { ...inactive(GRACE_MS), scaleToZeroPodRetentionMs: 0 }, wantReplicas: 0, wantScaling: true,
  },
  {
    label: "can't scale to zero after grace period, but before last pod retention", startReplicas: 1,
    in: { ...inactive(GRACE_MS), scaleToZeroPodRetentionMs: 2 * GRACE_MS }, wantReplicas: 0, wantScaling: false, wantRequeue: true,
  },
  {
    label: 'scale to zero after grace period, and after last pod retention', startReplicas: 1,
    in: { ...inactive(GRACE_MS), scaleToZeroPodRetentionMs: GRACE_MS }, wantReplicas: 0, wantScaling: true,
  },
  { label: 'scale to zero after grace period', startReplicas: 1, in: inactive(GRACE_MS), wantReplicas: 0, wantScaling: true },
  { label: 'waits to scale to zero (just before grace period)', startReplicas: 1, in: inactive(GRACE_MS - 1000), wantReplicas: 0, wantScaling: false, wantRequeue: true },
  {
    label: 'waits to scale to zero (just before grace period, sks short)', startReplicas: 1,
    in: { ...inactive(GRACE_MS - 1000), ...proxyFor(GRACE_MS - 1000) }, wantReplicas: 0, wantScaling: false, wantRequeue: true,
  },
  {
    label: 'waits to scale to zero (just before grace period, sks in proxy long) and last pod timeout positive', startReplicas: 1,
    in: { ...inactive(GRACE_MS - 1000), ...proxyFor(GRACE_MS), scaleToZeroPodRetentionMs: 42_000 }, wantReplicas: 0, wantScaling: true,
  },
  {
    label: 'waits to scale to zero (just before grace period, sks in proxy long)', startReplicas: 1,
    in: { ...inactive(GRACE_MS - 1000), ...proxyFor(GRACE_MS) }, wantReplicas: 0, wantScaling: true,
  },
  {
    label: 'scale to zero with TBC=-1 (activator not probed)', startReplicas: 1,
    in: { ...inactive(GRACE_MS), targetBurstCapacity: -1, activatorReady: false }, wantReplicas: 0, wantScaling: true,
  },
  {
    label: 'scale to zero after grace period, but fail prober', startReplicas: 1,
    in: { ...inactive(GRACE_MS), activatorReady: false }, wantReplicas: 0, wantScaling: false, wantAsyncProbe: true,
  },
  {
    label: 'waits to scale to zero while activating until after deadline exceeded', startReplicas: 1,
    in: activating(ACTIVATION_TIMEOUT_MS / 2), wantReplicas: SCALE_UNKNOWN, wantScaling: false, wantRequeue: true,
  },
  {
    label: 'scale to zero while activating after deadline exceeded', startReplicas: 1,
    in: activating(ACTIVATION_TIMEOUT_MS + 1000), wantReplicas: 0, wantScaling: true,
  },
  {
    label: 'scale to zero while activating after revision deadline exceeded', startReplicas: 1,
    in: { ...activating(5_000 + ACTIVATION_TIMEOUT_BUFFER_MS + 1000), activationTimeoutMs: 5_000 + ACTIVATION_TIMEOUT_BUFFER_MS },
    wantReplicas: 0, wantScaling: true,
  },
  { label: 'scale down to minScale before grace period', startReplicas: 10, in: { ...inactive(GRACE_MS - 1000), minScale: 2 }, wantReplicas: 2, wantScaling: true },
  { label: 'scale down to minScale after grace period', startReplicas: 10, in: { ...inactive(GRACE_MS), minScale: 2 }, wantReplicas: 2, wantScaling: true },
  {
    label: 'scale to zero ignores last pod retention if revision is unreachable', startReplicas: 1,
    in: { ...inactive(GRACE_MS), reachable: false, scaleToZeroPodRetentionMs: 10 * GRACE_MS }, wantReplicas: 0, wantScaling: true,
  },
  {
    label: "can't scale to zero if revision is unreachable, but before deadline", startReplicas: 1,
    in: { ...inactive(GRACE_MS - 1000), reachable: false, scaleToZeroPodRetentionMs: 10 * GRACE_MS }, wantReplicas: 0, wantScaling: false, wantRequeue: true,
  },
  { label: 'ignore minScale if unreachable', startReplicas: 10, in: { ...inactive(GRACE_MS), minScale: 2, reachable: false }, wantReplicas: 0, wantScaling: true },
  { label: 'observe minScale if reachability unknown', startReplicas: 10, in: { ...inactive(GRACE_MS), minScale: 2 }, wantReplicas: 2, wantScaling: true },
  { label: 'scales up', startReplicas: 1, in: { desiredScale: 10 }, wantReplicas: 10, wantScaling: true },
  { label: 'scales up to maxScale', startReplicas: 1, in: { desiredScale: 10, maxScale: 8 }, wantReplicas: 8, wantScaling: true },
  { label: 'scale up inactive revision', startReplicas: 1, in: { ...inactive(GRACE_MS / 2), desiredScale: 10 }, wantReplicas: 10, wantScaling: true },
  { label: 'does not scale up from zero with no metrics', startReplicas: 0, in: { ...inactive(0), desiredScale: -1 }, wantReplicas: -1, wantScaling: false },
  { label: 'scales up from zero to desired one', startReplicas: 0, in: { desiredScale: 1 }, wantReplicas: 1, wantScaling: true },
  { label: 'scales up from zero to desired high scale', startReplicas: 0, in: { desiredScale: 10 }, wantReplicas: 10, wantScaling: true },
  { label: 'negative scale does not scale', startReplicas: 12, in: { ...active(0), desiredScale: -1 }, wantReplicas: -1, wantScaling: false },
  {
    label: 'initial scale attained, but now time to scale down', startReplicas: 2,
    in: { ...active(120_000), scaleTargetInitialized: true, initialScale: 2 }, wantReplicas: 1, wantScaling: true, wantRequeue: true,
  },
  {
    label: "haven't scaled to initial scale, override desired scale with initial scale", startReplicas: 0,
    in: { ...activating(0), desiredScale: 1, initialScale: 2 }, wantReplicas: 2, wantScaling: true,
  },
  {
    label: 'initial scale reached for the first time', startReplicas: 5,
    in: { ...activating(0), desiredScale: 1, initialScale: 5 }, wantReplicas: 5, wantScaling: false,
  },
  { label: 'reaching initial scale zero', startReplicas: 0, in: { ...inactive(0), initialScale: 0 }, wantReplicas: 0, wantScaling: false, wantRequeue: true },
  {
    label: 'unreachable revision with initialScale > 1 can scale to 0', startReplicas: 2,
    in: { ...active(120_000), initialScale: 2, reachable: false }, wantReplicas: 1, wantScaling: true, wantRequeue: true,
  },
  // TestDisableScaleToZero (PA active since now, reachable).
  { label: 'scale to zero disabled, minScale 0 -> 1', startReplicas: 10, in: { ...active(0), enableScaleToZero: false }, wantReplicas: 1, wantScaling: true },
  { label: 'scale to zero disabled, minScale 2 -> 2', startReplicas: 10, in: { ...active(0), enableScaleToZero: false, minScale: 2 }, wantReplicas: 2, wantScaling: true },
  {
    label: 'scale to zero disabled, no decision yet', startReplicas: 10,
    in: { ...active(0), enableScaleToZero: false, desiredScale: -1 }, wantReplicas: -1, wantScaling: false,
  },
]

t.test('scaler table (TestScaler, TestDisableScaleToZero)', async (t) => {
  for (const row of ROWS) {
    const d = decideScale(input(row.in))
    t.equal(d.desiredScale, row.wantReplicas, `${row.label}: desired`)
    t.equal(d.apply && d.desiredScale !== row.startReplicas, row.wantScaling, `${row.label}: scaling`)
    t.equal(d.requeueAfterMs !== null, row.wantRequeue ?? false, `${row.label}: requeue`)
    t.equal(d.startActivatorProbe, row.wantAsyncProbe ?? false, `${row.label}: async probe`)
  }
})

t.test('requeue delays say when to look again', async (t) => {
  t.equal(decideScale(input(active(STABLE_MS - 1000))).requeueAfterMs, 1000, 'rest of the stable window')
  t.equal(decideScale(input(inactive(GRACE_MS - 1000))).requeueAfterMs, GRACE_MS, 'activator not in path yet: a whole grace period')
  t.equal(decideScale(input({ ...inactive(GRACE_MS - 1000), ...proxyFor(GRACE_MS - 1000) })).requeueAfterMs, 1000,
    'rest of the grace period since the activator entered the path')
  t.equal(decideScale(input({ ...inactive(10_000), scaleToZeroPodRetentionMs: 25_000 })).requeueAfterMs, 15_000, 'rest of the retention')
  t.equal(decideScale(input(activating(1000))).requeueAfterMs, ACTIVATION_TIMEOUT_MS)
  t.equal(decideScale(input({ ...active(STABLE_MS), proxyMode: true })).requeueAfterMs, 3_000)
})

t.test('the issue e2e timeline: idle stable window, then grace, then 0', async (t) => {
  // stable 6 s, grace 2 s: after 6 s active without load the PA goes inactive (desired 0, not
  // applied); the activator is in the path, and 2 s later the last pod goes.
  const base = { stableWindowMs: 6_000, scaleToZeroGracePeriodMs: 2_000 }
  t.same(decideScale(input({ ...base, ...active(3_000) })), { desiredScale: 1, apply: true, requeueAfterMs: 3_000, startActivatorProbe: false })
  t.same(decideScale(input({ ...base, ...active(6_000) })), { desiredScale: 0, apply: false, requeueAfterMs: null, startActivatorProbe: false })
  // Once inactive the SKS moves to Proxy mode, so the activator is in the path from then on.
  t.same(decideScale(input({ ...base, ...inactive(1_000), ...proxyFor(1_000) })), { desiredScale: 0, apply: false, requeueAfterMs: 1_000, startActivatorProbe: false })
  t.same(decideScale(input({ ...base, ...inactive(2_000), ...proxyFor(2_000) })), { desiredScale: 0, apply: true, requeueAfterMs: null, startActivatorProbe: false })
})

t.test('applyBounds and effective bounds', async (t) => {
  t.equal(applyBounds(2, 5, 0), 2)
  t.equal(applyBounds(2, 5, 9), 5)
  t.equal(applyBounds(2, 0, 9), 9, 'max 0 = unbounded')
  t.equal(applyBounds(0, 5, 3), 3)
  const b = { minScale: 1, maxScale: 9, initialScale: 4, reachable: true, scaleTargetInitialized: false }
  t.same(effectiveScaleBounds(b), { minScale: 4, maxScale: 9 }, 'initial scale floors min until reached')
  t.same(effectiveScaleBounds({ ...b, scaleTargetInitialized: true }), { minScale: 1, maxScale: 9 })
  t.same(effectiveScaleBounds({ ...b, reachable: false }), { minScale: 0, maxScale: 9 }, 'unreachable ignores min and initial')
  t.same(effectiveScaleBounds({ ...b, minScale: 6 }), { minScale: 6, maxScale: 9 }, 'min above initial wins')
})
