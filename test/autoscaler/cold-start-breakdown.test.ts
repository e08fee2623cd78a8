import t from 'tap'
import { buildColdStartBreakdown, COLD_START_PHASES, parseActivatorColdStarts } from '../../src/autoscaler/cold-start-breakdown.ts'

const T0 = 1_765_000_000_000

t.test('parses the activator\'s last-cold-start gauges per revision', async (t) => {
  const text = [
    '# HELP sluice_activator_last_cold_start_timestamp_seconds x',
    '# TYPE sluice_activator_last_cold_start_timestamp_seconds gauge',
    `sluice_activator_last_cold_start_timestamp_seconds{namespace="default",revision="hello",event="request"} ${(T0 / 1000).toFixed(3)}`,
    `sluice_activator_last_cold_start_timestamp_seconds{namespace="default",revision="hello",event="endpoint_ready"} ${((T0 + 250) / 1000).toFixed(3)}`,
    `sluice_activator_last_cold_start_timestamp_seconds{namespace="default",revision="hello",event="forwarded"} ${((T0 + 251) / 1000).toFixed(3)}`,
    `sluice_activator_last_cold_start_timestamp_seconds{namespace="default",revision="hello",event="first_byte"} ${((T0 + 254) / 1000).toFixed(3)}`,
    `sluice_activator_last_cold_start_timestamp_seconds{namespace="apps",revision="other",event="request"} ${(T0 / 1000).toFixed(3)}`,
    'sluice_activator_queued_requests{namespace="default",revision="hello"} 0',
  ].join('\n')
  const got = parseActivatorColdStarts(text)
  t.same(got.get('default/hello'), { requestWallMs: T0, endpointReadyWallMs: T0 + 250, forwardedWallMs: T0 + 251, firstByteWallMs: T0 + 254 })
  t.same(got.get('apps/other'), { requestWallMs: T0, endpointReadyWallMs: null, forwardedWallMs: null, firstByteWallMs: null }, 'in progress')
  t.equal(parseActivatorColdStarts('').size, 0)
})

t.test('phases in causal order, ms after the request; a phase seen late by its poll moves back to the one proving it', async (t) => {
  const b = buildColdStartBreakdown(
    { pod: 'hello-0001', spawnWallMs: T0 + 5, appListeningWallMs: T0 + 140, sidecarReadyWallMs: T0 + 160, sidecarPrestarted: false },
    { requestWallMs: T0, endpointReadyWallMs: T0 + 150, forwardedWallMs: T0 + 151, firstByteWallMs: T0 + 153 })
  t.same(b?.phases.map((p) => p.name), [...COLD_START_PHASES])
  t.same(b?.phases.map((p) => p.atMs), [5, 140, 150, 150, 153], 'our sidecar probe saw it at 160, the activator\'s passed at 150')
  t.equal(b?.origin, 'request')
  t.equal(b?.totalMs, 153)
})

t.test('an activator record from another cold start is not used: ms count from the spawn', async (t) => {
  const stale = { requestWallMs: T0 - 60_000, endpointReadyWallMs: T0 - 59_800, forwardedWallMs: T0 - 59_799, firstByteWallMs: T0 - 59_790 }
  const b = buildColdStartBreakdown({ pod: 'p', spawnWallMs: T0, appListeningWallMs: T0 + 100, sidecarReadyWallMs: null, sidecarPrestarted: true }, stale)
  t.equal(b?.origin, 'spawn')
  t.same(b?.phases.map((p) => p.atMs), [0, 100, null, null, null])
  t.equal(b?.totalMs, null)
  t.equal(buildColdStartBreakdown({ pod: 'p', spawnWallMs: null, appListeningWallMs: null, sidecarReadyWallMs: null, sidecarPrestarted: false }, null), null, 'nothing before the spawn')
})
