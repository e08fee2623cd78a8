// ClusterIpRoute on its own: when a revision's traffic goes through its private service (mesh-
// compatibility-mode enabled, or auto once every pod failed as a mesh makes them fail), when the
// service is probed, and what a connect failure does. The service is a fake pod on a real socket,
// probed by the real HTTP probe (counted, to see when the route starts probing).
import t from 'tap'
import { ClusterIpRoute } from '../../src/activator/cluster-ip-route.ts'
import { DEFAULT_PROBER_SCHEDULE } from '../../src/activator/endpoint-prober.ts'
import { TRACKER_FAILED } from '../../src/activator/pod-tracker.ts'
import type { ClusterIpSpec } from '../../src/activator/revision-spec.ts'
import { HttpEndpointProbe, PROBE_FAILED_MESHLIKE, PROBE_FAILED_NOT_MESH } from '../../src/proxy/endpoint-probe.ts'
import { realClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { realTimers } from '../../src/shared/timers.ts'
import { startFakePod, until, type Teardown } from './fixtures.ts'
import { h1Pool } from './revision-fixture.ts'

interface Setup {
  route: ClusterIpRoute
  probed: string[]
  changes: { count: number }
}

function makeRoute (t: Teardown, spec: ClusterIpSpec): Setup {
  const real = new HttpEndpointProbe()
  const probed: string[] = []
  const changes = { count: 0 }
  const route = new ClusterIpRoute(spec, {
    probe: { probe (dest: string, timeoutMs: number) { probed.push(dest); return real.probe(dest, timeoutMs) } },
    proberSchedule: DEFAULT_PROBER_SCHEDULE,
    proberTimers: realTimers,
    proberClock: realClock,
    createPool: h1Pool,
    createH2Pool: null,
    logger: silentLogger(),
  }, { onClusterIpChange () { changes.count++ } })
  t.teardown(() => { route.close() })
  return { route, probed, changes }
}

const PODS = new Set(['10.0.0.1:8012', '10.0.0.2:8012'])

t.test('enabled: the service is probed once it has pods behind it, then takes the traffic; scale to zero makes it unhealthy', async (t) => {
  const service = await startFakePod(t)
  const { route, probed, changes } = makeRoute(t, { mode: 'enabled', dest: service.dest })
  t.ok(route.usesService, 'enabled: through the service from the start')
  route.setEndpoints(new Set())
  t.same(probed, [], 'no pods behind it: not probed')
  t.equal(route.activeTracker, null)

  route.setEndpoints(PODS)
  t.same(probed, [service.dest], 'pods arrived: probed')
  await until(() => route.activeTracker !== null, 3000, 'service ready')
  t.equal(route.activeTracker?.dest, service.dest)
  t.equal(route.backends, 2, 'capacity follows the pods behind it')
  t.ok(changes.count >= 1, 'the revision was told')

  route.setEndpoints(new Set())
  t.equal(route.activeTracker, null, 'scaled to zero: not healthy until probed again with pods')
})

t.test('auto: pods are used directly until every pod failed as a mesh would; then the service, for good', async (t) => {
  const service = await startFakePod(t)
  const { route, probed } = makeRoute(t, { mode: 'auto', dest: service.dest })
  route.setEndpoints(PODS)
  t.notOk(route.usesService)
  t.same(probed, [], 'pods not yet failed: the service is not probed')

  route.onPodFailed('10.0.0.1:8012', PROBE_FAILED_MESHLIKE)
  t.same(probed, [], 'one pod still untried')
  route.onPodFailed('10.0.0.2:8012', PROBE_FAILED_NOT_MESH)
  t.same(probed, [], 'a pod answered as no mesh would: pods are addressable')
  route.onPodFailed('10.0.0.2:8012', PROBE_FAILED_MESHLIKE)
  t.same(probed, [service.dest], 'every pod failed mesh-like: probe the service')
  await until(() => route.usesService && route.activeTracker !== null, 3000, 'switched to the service')

  route.onPodReady('10.0.0.1:8012')
  t.ok(route.usesService, 'sticky: a pod answering later does not switch back')
})

t.test('auto: a pod that answered directly keeps the pods in use', async (t) => {
  const service = await startFakePod(t)
  const { route, probed } = makeRoute(t, { mode: 'auto', dest: service.dest })
  route.setEndpoints(PODS)
  route.onPodReady('10.0.0.1:8012')
  route.onPodFailed('10.0.0.2:8012', PROBE_FAILED_MESHLIKE)
  t.same(probed, [])
  t.notOk(route.usesService)
})

t.test('markFailed: the service leaves rotation and is re-probed; other trackers are not its business', async (t) => {
  const service = await startFakePod(t)
  const { route, probed, changes } = makeRoute(t, { mode: 'enabled', dest: service.dest })
  route.setEndpoints(PODS)
  await until(() => route.activeTracker !== null, 3000, 'service ready')
  const tracker = route.tracker
  if (tracker === null) throw new Error('no tracker')
  const before = changes.count
  t.ok(route.markFailed(tracker, new Error('ECONNREFUSED')))
  t.equal(tracker.state, TRACKER_FAILED)
  t.equal(route.activeTracker, null)
  t.equal(changes.count, before + 1)
  t.equal(probed.length, 2, 're-probed')
  await until(() => route.activeTracker !== null, 3000, 'back after a probe')

  const other = makeRoute(t, { mode: 'enabled', dest: null })
  t.notOk(other.route.markFailed(tracker, new Error('x')), 'not its tracker')
})

t.test('update: a new service address replaces the tracker; auto -> enabled goes through the service', async (t) => {
  const a = await startFakePod(t)
  const b = await startFakePod(t)
  const { route, changes } = makeRoute(t, { mode: 'auto', dest: a.dest })
  route.setEndpoints(PODS)
  t.notOk(route.usesService)
  route.update({ mode: 'enabled', dest: a.dest })
  t.ok(route.usesService)
  await until(() => route.activeTracker?.dest === a.dest, 3000, 'a ready')
  const before = changes.count
  route.update({ mode: 'enabled', dest: b.dest })
  t.equal(route.tracker?.dest, b.dest)
  t.ok(changes.count > before, 'the revision re-syncs')
  await until(() => route.activeTracker?.dest === b.dest, 3000, 'b ready')
  route.update({ mode: 'enabled', dest: null })
  t.equal(route.tracker, null)
  t.equal(route.activeTracker, null)
})
