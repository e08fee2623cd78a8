// Knative's computeActiveCondition table and SKS mode choice (kpa.go, kpa_test.go).
import t from 'tap'
import { activatorInPath, activeThreshold, computeActiveState, type ActiveStateInput } from '../../src/autoscaler/pa-status.ts'

function input (over: Partial<ActiveStateInput>): ActiveStateInput {
  return {
    want: 1,
    readyPods: 1,
    current: 'activating',
    minScale: 0,
    maxScale: 0,
    initialScale: 1,
    reachable: true,
    scaleTargetInitialized: true,
    ...over,
  }
}

t.test('active condition (computeActiveCondition table)', async (t) => {
  const rows: Array<{ label: string, in: Partial<ActiveStateInput>, state: string, reason: string | null }> = [
    { label: 'want 0 -> inactive', in: { want: 0, current: 'active' }, state: 'inactive', reason: 'NoTraffic' },
    { label: 'want 0 while activating -> timed out', in: { want: 0, current: 'activating' }, state: 'inactive', reason: 'TimedOut' },
    { label: 'want > 0, ready < min -> activating', in: { want: 3, readyPods: 0, current: 'inactive' }, state: 'activating', reason: 'Queued' },
    { label: 'want > 0, ready >= min -> active', in: { want: 3, readyPods: 1, current: 'inactive' }, state: 'active', reason: null },
    { label: 'want -1, ready < min, inactive -> inactive', in: { want: -1, readyPods: 0, current: 'inactive' }, state: 'inactive', reason: 'NoTraffic' },
    { label: 'want -1, ready < min, activating -> activating', in: { want: -1, readyPods: 0, current: 'activating' }, state: 'activating', reason: 'Queued' },
    { label: 'want -1, ready < min, active -> activating', in: { want: -1, readyPods: 0, current: 'active' }, state: 'activating', reason: 'Queued' },
    { label: 'want -1, ready >= min, inactive -> inactive', in: { want: -1, readyPods: 2, current: 'inactive' }, state: 'inactive', reason: null },
    {
      label: 'want -1, min 0 (initial scale 0), activating -> inactive', in: { want: -1, readyPods: 0, current: 'activating', initialScale: 0, scaleTargetInitialized: false },
      state: 'inactive', reason: 'NoTraffic',
    },
    { label: 'want -1, ready >= min > 0, activating -> active', in: { want: -1, readyPods: 1, current: 'activating' }, state: 'active', reason: null },
    { label: 'want -1, ready >= min > 0, active -> active', in: { want: -1, readyPods: 1, current: 'active' }, state: 'active', reason: null },
  ]
  for (const row of rows) {
    const r = computeActiveState(input(row.in))
    t.equal(r.state, row.state, `${row.label}: state`)
    t.equal(r.reason, row.reason, `${row.label}: reason`)
  }
})

t.test('scale target initialized once ready reaches the threshold', async (t) => {
  t.equal(computeActiveState(input({ scaleTargetInitialized: false, initialScale: 3, readyPods: 2 })).scaleTargetInitialized, false)
  t.equal(computeActiveState(input({ scaleTargetInitialized: false, initialScale: 3, readyPods: 3 })).scaleTargetInitialized, true)
  t.equal(computeActiveState(input({ scaleTargetInitialized: false, readyPods: 3, hasService: false })).scaleTargetInitialized, false, 'needs a service')
  t.equal(computeActiveState(input({ scaleTargetInitialized: true, readyPods: 0 })).scaleTargetInitialized, true, 'sticky')
})

t.test('active threshold', async (t) => {
  const b = { minScale: 2, maxScale: 0, initialScale: 5, reachable: true, scaleTargetInitialized: false }
  t.equal(activeThreshold(b), 5, 'initial scale until initialized')
  t.equal(activeThreshold({ ...b, scaleTargetInitialized: true }), 2)
  t.equal(activeThreshold({ ...b, scaleTargetInitialized: true, minScale: 0 }), 1)
  t.equal(activeThreshold({ ...b, scaleTargetInitialized: true, reachable: false }), 1, 'min ignored while unreachable')
})

t.test('activator in path (SKS mode)', async (t) => {
  t.equal(activatorInPath(3, 10), false, 'pods wanted and headroom: serve directly')
  t.equal(activatorInPath(3, 0), false)
  t.equal(activatorInPath(3, -1), true, 'not enough burst capacity (or TBC -1)')
  t.equal(activatorInPath(0, 10), true, 'scaled to zero')
  t.equal(activatorInPath(-1, 10), true, 'no decision')
})
