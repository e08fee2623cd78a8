import t from 'tap'
import { KubernetesSource } from '../../src/activator/sources/kubernetes.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import type { MeshCompatibilityMode } from '../../src/config/network-configmap.ts'
import { endpointSlice, knativeRevision, privateLabels, privateService, type FakeKubeApi, type KubeObject, type SliceEndpoint } from './sources/fake-kube-api.ts'
import { startFakeKubeApi } from './sources/kube-source-fixture.ts'
import { createClient, delayed, route, send, startActivator, startApp, startFakePod, startSidecar, until, type Teardown } from './fixtures.ts'

// Knative's probe optimisation (revision_backends.go) end to end: a fake API server lists a Knative
// revision and its private EndpointSlice; the pods are real loopback servers (a real Sluice sidecar in
// front of an app, or a fake pod answering the activator's probe). A pod whose sidecar answers the
// activator's probe takes traffic while kubelet still calls it not ready, unless the revision has an
// exec readiness probe (or a startup probe): then only kubelet's ready counts.

const REV = 'hello-00001'
const SLICE = `${REV}-private-abcde`

function revision (spec: Record<string, unknown> = {}): KubeObject {
  const base = knativeRevision('default', REV, { containerConcurrency: 1 })
  return { ...base, spec: { ...(base.spec as Record<string, unknown>), ...spec } }
}

/** An activator fed by a Kubernetes source reading `api`, which already lists the revision. */
async function startCluster (t: Teardown, rev: KubeObject = revision(), meshMode: MeshCompatibilityMode = 'disabled', more: (api: FakeKubeApi) => void = () => {}): Promise<{ api: FakeKubeApi, url: string, activator: Awaited<ReturnType<typeof startActivator>>['activator'] }> {
  const api = await startFakeKubeApi(t)
  api.apply('revisions', rev)
  more(api)
  const source = new KubernetesSource({ kubeConfig: api.url, logger: silentLogger(), backoff: { initialMs: 10, maxMs: 40 }, random: () => 0.5, meshMode })
  const { activator, url } = await startActivator(t, ['--source', 'kubernetes'], { sources: [source] })
  return { api, url, activator }
}

function slice (port: number, endpoints: SliceEndpoint[]): KubeObject {
  return endpointSlice('default', SLICE, privateLabels(REV), endpoints, { port })
}

t.test('a not-ready endpoint whose sidecar answers the probe gets the buffered requests before kubelet says ready', async (t) => {
  const { api, url, activator } = await startCluster(t)
  const agent = createClient(t)
  // Scaled to zero: three requests wait in the activator.
  const replies = [0, 1, 2].map(() => send(agent, url, { headers: route(REV), signal: AbortSignal.timeout(10_000) }))
  await until(() => activator.registry.lookup('default', REV)?.throttler.queued === 3, 3_000, 'three buffered requests')

  // The pod comes up: a real sidecar in front of an app; kubelet has not marked it ready (and never will here).
  const app = await startApp(t, delayed(0))
  const { dest } = await startSidecar(t, app.port, 1)
  const port = Number(dest.slice(dest.lastIndexOf(':') + 1))
  api.apply('endpointslices', slice(port, [{ ip: '127.0.0.1', ready: false }]))

  const done = await Promise.all(replies)
  t.same(done.map((r) => r.status), [200, 200, 200], 'served by the not-ready pod')
  t.equal(app.requests, 3)
  const rev = activator.registry.lookup('default', REV)
  t.same(rev?.spec.endpoints, [], 'kubelet still says not ready')
  t.same(rev?.spec.notReadyEndpoints, [`127.0.0.1:${port}`])

  // kubelet catches up: nothing changes for the traffic.
  api.apply('endpointslices', slice(port, [{ ip: '127.0.0.1', ready: true }]))
  await until(() => rev?.spec.endpoints.length === 1, 3_000, 'the slice turned ready')
  t.equal(rev?.readyCount, 1, 'kept in rotation, not probed from scratch')
  t.equal((await send(agent, url, { headers: route(REV) })).status, 200)
})

t.test('a not-ready endpoint whose probe fails gets no traffic', async (t) => {
  const { api, url, activator } = await startCluster(t)
  const pod = await startFakePod(t, delayed(0), false)
  api.apply('endpointslices', slice(pod.port, [{ ip: '127.0.0.1', ready: false }]))
  const reply = send(createClient(t), url, { headers: route(REV), signal: AbortSignal.timeout(10_000) })
  await until(() => pod.probes >= 3, 5_000, 'three failed probes')
  const rev = activator.registry.lookup('default', REV)
  t.equal(rev?.readyCount, 0)
  t.equal(rev?.throttler.queued, 1, 'the request still waits')
  t.equal(pod.requests, 0, 'no traffic to a pod that does not answer')

  pod.probeOk = true
  t.equal((await reply).status, 200, 'served once the probe passes')
  t.equal(pod.requests, 1)
})

t.test('a probed-ready endpoint that turns not ready is re-probed: kept while it answers, dropped when it does not', async (t) => {
  const { api, url, activator } = await startCluster(t)
  const pod = await startFakePod(t)
  const agent = createClient(t)
  api.apply('endpointslices', slice(pod.port, [{ ip: '127.0.0.1', ready: true }]))
  t.equal((await send(agent, url, { headers: route(REV) })).status, 200)
  const rev = activator.registry.lookup('default', REV)
  t.equal(rev?.readyCount, 1)

  // kubelet's probe fails for a moment, the sidecar still answers ours: it stays in rotation.
  let probes = pod.probes
  api.apply('endpointslices', slice(pod.port, [{ ip: '127.0.0.1', ready: false }]))
  await until(() => pod.probes > probes, 3_000, 'a re-probe')
  t.equal(rev?.readyCount, 1, 'still in rotation')
  t.equal((await send(agent, url, { headers: route(REV) })).status, 200)

  // Ready again, then not ready with a sidecar that no longer answers: out of rotation.
  api.apply('endpointslices', slice(pod.port, [{ ip: '127.0.0.1', ready: true }]))
  await until(() => rev?.spec.endpoints.length === 1, 3_000, 'ready again')
  pod.probeOk = false
  probes = pod.probes
  api.apply('endpointslices', slice(pod.port, [{ ip: '127.0.0.1', ready: false }]))
  await until(() => rev?.readyCount === 0, 3_000, 'out of rotation')
  t.ok(pod.probes > probes)

  // Terminating (kubelet keeps it in the slice, flagged): gone from the revision altogether.
  const terminating = slice(pod.port, [{ ip: '127.0.0.1', ready: false }])
  const endpoints = terminating.endpoints as Array<{ conditions: Record<string, unknown> }>
  for (const e of endpoints) e.conditions = { ready: false, serving: false, terminating: true }
  api.apply('endpointslices', terminating)
  await until(() => rev?.spec.notReadyEndpoints === undefined && [...(rev?.trackers() ?? [])].length === 0, 3_000, 'no tracker left')
  t.pass('a terminating endpoint is not probed')
})

const KUBELET_ONLY: Array<[string, Record<string, unknown>]> = [
  ['an exec readiness probe', { containers: [{ image: 'app', readinessProbe: { exec: { command: ['ready'] } } }] }],
  ['a startup probe', { containers: [{ image: 'app', startupProbe: { tcpSocket: { port: 8080 } } }] }],
  ['a sidecar container with a startup probe', { containers: [{ image: 'app', ports: [{ containerPort: 8080 }] }, { image: 'side', startupProbe: { exec: { command: ['ok'] } } }] }],
]

for (const [what, spec] of KUBELET_ONLY) {
  t.test(`with ${what}, a not-ready endpoint is not probed and gets no traffic until kubelet says ready`, async (t) => {
    const { api, url, activator } = await startCluster(t, revision(spec))
    const notReady = await startFakePod(t)
    const ready = await startFakePod(t)
    // Two slices (so the pods can have their own ports), the ready one last: once it is in rotation,
    // the not-ready one's event has been handled too (one watch, events in order).
    api.apply('endpointslices', slice(notReady.port, [{ ip: '127.0.0.1', ready: false }]))
    api.apply('endpointslices', endpointSlice('default', `${REV}-private-other`, privateLabels(REV), [{ ip: '127.0.0.1', ready: true }], { port: ready.port }))
    await until(() => activator.registry.lookup('default', REV)?.readyCount === 1, 3_000, 'the ready pod in rotation')
    const rev = activator.registry.lookup('default', REV)
    await until(() => rev?.spec.endpoints.length === 1 && [...rev.trackers()].length === 1 && notReady.probes === 0, 3_000, 'only the ready pod tracked')
    t.equal(rev?.spec.notReadyEndpoints, undefined, 'the source does not offer it')
    t.equal(notReady.probes, 0)

    api.apply('endpointslices', slice(notReady.port, [{ ip: '127.0.0.1', ready: true }]))
    await until(() => rev?.readyCount === 2, 3_000, 'both in rotation once kubelet says ready')
    t.equal((await send(createClient(t), url, { headers: route(REV) })).status, 200)
  })
}

t.test('mesh-compatibility auto: a not-ready pod answering directly keeps the revision on pod IPs, though every ready pod fails as behind a mesh', async (t) => {
  const direct = await startFakePod(t)
  const meshed = await startFakePod(t, delayed(0), false)
  // The private Service's ClusterIP, standing in: it would answer, so a fallback would be taken.
  const service = await startFakePod(t)
  const { api, url, activator } = await startCluster(t, revision(), 'auto', (api) => {
    api.apply('services', privateService('default', REV, '127.0.0.1', service.port))
    api.apply('endpointslices', slice(direct.port, [{ ip: '127.0.0.1', ready: false }]))
    api.apply('endpointslices', endpointSlice('default', `${REV}-private-meshed`, privateLabels(REV), [{ ip: '127.0.0.1', ready: true }], { port: meshed.port }))
  })
  const rev = activator.registry.lookup('default', REV)
  await until(() => rev?.readyCount === 1, 3_000, 'the not-ready pod in rotation')
  // The revision's endpoints change (another unready pod, not listening): the route is told again.
  api.apply('endpointslices', endpointSlice('default', `${REV}-private-third`, privateLabels(REV), [{ ip: '127.0.0.1', ready: false }], { port: 1 }))
  await until(() => rev?.spec.notReadyEndpoints?.length === 2, 3_000, 'the update')
  const probes = meshed.probes
  await until(() => meshed.probes >= probes + 3, 8_000, 'three more mesh-like failures of the ready pod')
  // (The service may have been probed once at the start, while the ready pod had failed and the
  // not-ready one not yet answered; the answer found a pod ready and changed nothing.)
  t.equal(rev?.clusterIp?.usesService, false, 'still on pod IPs')
  t.equal(service.requests, 0)
  t.equal((await send(createClient(t), url, { headers: route(REV) })).status, 200)
  t.equal(direct.requests, 1, 'served by the pod directly')
})
