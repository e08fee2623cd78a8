import t from 'tap'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { KubernetesSource } from '../../src/activator/sources/kubernetes.ts'
import type { MeshCompatibilityMode } from '../../src/config/network-configmap.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { endpointSlice, knativeRevision, privateLabels, privateService, type FakeKubeApi } from './sources/fake-kube-api.ts'
import { startFakeKubeApi } from './sources/kube-source-fixture.ts'
import { createClient, route, send, startActivator, startFakePod, until, type Teardown } from './fixtures.ts'

// mesh-compatibility-mode (knative.dev/networking config-network) end to end: a fake API server lists
// a Knative revision, its pods (a private EndpointSlice) and its private Service, whose ClusterIP is a
// real loopback server standing in for kube-proxy's service address; the activator routes for real.

const REV = 'hello-00001'

interface StandIn {
  readonly dest: string
  readonly port: number
  probes: number
  requests: number
}

/** The private service's ClusterIP: answers the activator's probe like a queue-proxy behind it and serves `service`. */
async function startServiceStandIn (t: Teardown): Promise<StandIn> {
  const standIn: StandIn = { dest: '', port: 0, probes: 0, requests: 0 }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.headers['k-network-probe'] === 'queue') { standIn.probes++; res.end('queue'); return }
    standIn.requests++
    req.resume()
    res.end('service')
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) }))
  const port = portOf(server)
  return Object.assign(standIn, { dest: `127.0.0.1:${port}`, port })
}

function portOf (server: Server): number {
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A pod that fails its probe with `status` (a mesh's sidecar answers 502/503; a not-ready app something else). */
async function startFailingPod (t: Teardown, status: number, host = '127.0.0.1'): Promise<{ port: number, probes: number }> {
  const pod = { port: 0, probes: 0 }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    pod.probes++
    req.resume()
    res.statusCode = status
    res.end()
  })
  await new Promise<void>((resolve) => { server.listen(0, host, resolve) })
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) }))
  pod.port = portOf(server)
  return pod
}

interface Cluster {
  readonly api: FakeKubeApi
  readonly url: string
  readonly activator: Awaited<ReturnType<typeof startActivator>>['activator']
}

/**
 * The revision (CC 2) with `pods` ready endpoints on `podPort` (127.0.0.1, .2, ...) and, unless
 * `service` is null, its private Service at the stand-in; an activator fed by a Kubernetes source in `mode`.
 */
async function startCluster (t: Teardown, mode: MeshCompatibilityMode, podPort: number, service: StandIn | null, pods = 1, more: (api: FakeKubeApi) => void = () => {}): Promise<Cluster> {
  const api = await startFakeKubeApi(t)
  more(api)
  api.apply('revisions', knativeRevision('default', REV, { containerConcurrency: 2 }))
  const endpoints = []
  for (let i = 1; i <= pods; i++) endpoints.push({ ip: `127.0.0.${i}` })
  api.apply('endpointslices', endpointSlice('default', `${REV}-private-abcde`, privateLabels(REV), endpoints, { port: podPort }))
  if (service !== null) api.apply('services', privateService('default', REV, '127.0.0.1', service.port))
  const source = new KubernetesSource({ kubeConfig: api.url, logger: silentLogger(), backoff: { initialMs: 10, maxMs: 40 }, random: () => 0.5, meshMode: mode })
  const { activator, url } = await startActivator(t, ['--source', 'kubernetes'], { sources: [source] })
  return { api, url, activator }
}

async function get (t: Teardown, url: string): Promise<string> {
  const reply = await send(createClient(t), url, { headers: route(REV), signal: AbortSignal.timeout(5_000) })
  if (reply.status !== 200) throw new Error(`status ${reply.status}: ${reply.body}`)
  return reply.body
}

t.test('enabled: requests go to the private ClusterIP, never to pod IPs; capacity is CC x ready pods', async (t) => {
  const pod = await startFakePod(t)
  const service = await startServiceStandIn(t)
  const { activator, url, api } = await startCluster(t, 'enabled', pod.port, service, 3)
  t.equal(await get(t, url), 'service')
  t.equal(await get(t, url), 'service')
  t.equal(service.requests, 2)
  t.equal(pod.requests + pod.probes, 0, 'the pods are neither probed nor sent to')
  const revision = activator.registry.lookup('default', REV)
  t.equal(revision?.throttler.clusterIp?.dest, service.dest, 'one destination: the service')
  t.equal(revision?.throttler.capacity, 2 * 3, 'Knative: CC x ready backends (one activator)')
  t.equal(revision?.readyCount, 3)
  t.ok(api.count('services', 'list') >= 1, 'the Services were listed')

  // Scale to zero and back: the service is probed again before it takes traffic.
  const probesBefore = service.probes
  api.apply('endpointslices', endpointSlice('default', `${REV}-private-abcde`, privateLabels(REV), [], { port: pod.port }))
  await until(() => revision?.throttler.capacity === 0, 3_000, 'capacity 0 with no ready pod')
  api.apply('endpointslices', endpointSlice('default', `${REV}-private-abcde`, privateLabels(REV), [{ ip: '127.0.0.1' }], { port: pod.port }))
  t.equal(await get(t, url), 'service')
  t.ok(service.probes > probesBefore, 're-probed after the scale-up')
  t.equal(revision?.throttler.capacity, 2)
})

t.test('enabled without a known Service: requests wait, then flow once the Service appears', async (t) => {
  const pod = await startFakePod(t)
  const service = await startServiceStandIn(t)
  const { activator, url, api } = await startCluster(t, 'enabled', pod.port, null)
  const reply = get(t, url)
  await until(() => activator.registry.lookup('default', REV)?.throttler.queued === 1, 3_000, 'the request buffered')
  api.apply('services', privateService('default', REV, '127.0.0.1', service.port))
  t.equal(await reply, 'service')
  t.equal(pod.requests + pod.probes, 0)
})

t.test('disabled: requests go to the pods; Services are not even watched', async (t) => {
  const pod = await startFakePod(t)
  const service = await startServiceStandIn(t)
  const { activator, url, api } = await startCluster(t, 'disabled', pod.port, service)
  t.match(await get(t, url), /^pod /)
  t.equal(pod.requests, 1)
  t.equal(service.requests + service.probes, 0)
  t.equal(api.count('services', 'list'), 0)
  t.equal(activator.registry.lookup('default', REV)?.spec.clusterIp, undefined)
})

t.test('auto: pods that answer their probe are used directly', async (t) => {
  const pod = await startFakePod(t)
  const service = await startServiceStandIn(t)
  const { activator, url } = await startCluster(t, 'auto', pod.port, service)
  t.match(await get(t, url), /^pod /)
  t.equal(service.requests + service.probes, 0, 'the service is not even probed')
  t.equal(activator.registry.lookup('default', REV)?.throttler.clusterIp, null)
})

t.test('auto: pods failing as behind a mesh (503) fall back to the ClusterIP, for good', async (t) => {
  const pod = await startFakePod(t, undefined, false)
  const service = await startServiceStandIn(t)
  const { activator, url } = await startCluster(t, 'auto', pod.port, service)
  t.equal(await get(t, url), 'service')
  const revision = activator.registry.lookup('default', REV)
  t.equal(revision?.clusterIp?.usesService, true)
  t.equal(revision?.throttler.capacity, 2)
  // Sticky, as Knative's podsAddressable: a pod that would now pass is no longer probed.
  const probes = pod.probes
  pod.probeOk = true
  t.equal(await get(t, url), 'service')
  t.equal(pod.probes, probes, 'pods are no longer probed')
  t.equal(pod.requests, 0)
})

t.test('auto: unreachable pods (connection refused) also fall back', async (t) => {
  const closed = await startFakePod(t)
  const port = closed.port
  await closed.close()
  const service = await startServiceStandIn(t)
  const { url } = await startCluster(t, 'auto', port, service)
  t.equal(await get(t, url), 'service')
})

t.test('auto: a pod answering as no mesh would (500) keeps the activator on pod IPs', async (t) => {
  const pod = await startFailingPod(t, 500)
  const service = await startServiceStandIn(t)
  const { activator } = await startCluster(t, 'auto', pod.port, service)
  await until(() => pod.probes >= 3, 5_000, 'three failed pod probes')
  t.equal(service.probes + service.requests, 0, 'no fallback: the service is never probed')
  t.equal(activator.registry.lookup('default', REV)?.clusterIp?.usesService, false)
})

t.test('auto: one pod answering 500 among mesh-like ones keeps the pods', async (t) => {
  const meshed = await startFailingPod(t, 503)
  const notMeshed = await startFailingPod(t, 404, '127.0.0.2')
  const service = await startServiceStandIn(t)
  // A second slice, so the pods can have different ports; both listed before the activator starts.
  const { activator } = await startCluster(t, 'auto', meshed.port, service, 1, (api) => {
    api.apply('endpointslices', endpointSlice('default', `${REV}-private-fghij`, privateLabels(REV), [{ ip: '127.0.0.2' }], { port: notMeshed.port }))
  })
  t.equal(activator.registry.lookup('default', REV)?.spec.endpoints.length, 2)
  await until(() => notMeshed.probes >= 3 && meshed.probes >= 3, 5_000, 'both pods probed')
  t.equal(service.probes, 0)
  t.equal(activator.registry.lookup('default', REV)?.clusterIp?.usesService, false)
})
