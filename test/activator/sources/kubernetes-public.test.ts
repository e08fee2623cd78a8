// The Kubernetes source with podIp: the activator's slot per revision from the revision's public
// service endpoints (Knative's handlePubEpsUpdate/inferIndex), over the fake API server.
import t from 'tap'
import type { ActivatorSlot } from '../../../src/activator/activator-slice.ts'
import { KubernetesSource, type KubernetesSourceOptions } from '../../../src/activator/sources/kubernetes.ts'
import { silentLogger } from '../../../src/shared/logger.ts'
import { startActivator, startFakePod, until } from '../fixtures.ts'
import { endpointSlice, type FakeKubeApi, knativeRevision, privateLabels, publicLabels, type SliceEndpoint } from './fake-kube-api.ts'
import { kubeSource, startFakeKubeApi } from './kube-source-fixture.ts'
import { MemorySink } from './memory-sink.ts'

type Teardown = Pick<typeof t, 'teardown'>

const SLICES = 'endpointslices'
const REVISIONS = 'revisions'
const POD_IP = '10.0.0.2'
const PUBLIC_SELECTOR = 'serving.knative.dev/revision,networking.internal.knative.dev/serviceType=Public'

function source (t: Teardown, api: FakeKubeApi, opts: Partial<KubernetesSourceOptions> = {}): KubernetesSource {
  return kubeSource(t, api, { podIp: POD_IP, ...opts })
}

function activatorIps (...ips: string[]): SliceEndpoint[] {
  return ips.map((ip) => ({ ip }))
}

/** hello-00001: a Revision, one private slice, one public slice listing three activators. */
function seed (api: FakeKubeApi): void {
  api.apply(REVISIONS, knativeRevision('default', 'hello-00001', { containerConcurrency: 2 }))
  api.apply(SLICES, endpointSlice('default', 'hello-00001-private-a', privateLabels('hello-00001'), [{ ip: '10.1.0.1' }]))
  api.apply(SLICES, endpointSlice('default', 'hello-00001-a', publicLabels('hello-00001'), activatorIps('10.0.0.3', '10.0.0.1', '10.0.0.2')))
}

const HELLO = 'default/hello-00001'

function slotOf (sink: MemorySink, key: string): ActivatorSlot | null | undefined {
  return sink.get(key)?.activators
}

function sameSlot (a: ActivatorSlot | null | undefined, b: ActivatorSlot | null): boolean {
  return a === b || (a !== null && a !== undefined && b !== null && a.index === b.index && a.count === b.count)
}

t.test('initial list: the slot is POD_IP\'s place among the sorted public addresses', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  const s = source(t, api)
  await s.start(sink)
  t.same(slotOf(sink, HELLO), { index: 1, count: 3 }, '10.0.0.2 of [10.0.0.1, 10.0.0.2, 10.0.0.3]')
  t.same(sink.get(HELLO)?.endpoints, ['10.1.0.1:8012'], 'endpoints still from the private slices only')
  t.equal(sink.calls.length, 1, 'one upsert')
  const lists = api.requests.filter((r) => r.path === '/apis/discovery.k8s.io/v1/endpointslices' && !r.query.has('watch'))
  t.same(lists.map((r) => r.query.get('labelSelector')).sort(), [
    'serving.knative.dev/revision,networking.internal.knative.dev/serviceType=Private',
    PUBLIC_SELECTOR,
  ], 'private and public slices listed apart')
  await api.until(() => api.openWatches(SLICES) === 2 && api.openWatches(REVISIONS) === 1)
  t.equal(s.stats().publicSlices, 1)
})

t.test('watch events adding and removing activators move the slot; POD_IP leaving keeps it', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  const s = source(t, api)
  await s.start(sink)
  await api.until(() => api.openWatches(SLICES) === 2)
  const waitSlot = (want: ActivatorSlot | null): Promise<void> => sink.until(() => sameSlot(slotOf(sink, HELLO), want))

  api.apply(SLICES, endpointSlice('default', 'hello-00001-a', publicLabels('hello-00001'), activatorIps('10.0.0.3', '10.0.0.1', '10.0.0.2', '10.0.0.0')))
  await waitSlot({ index: 2, count: 4 })
  t.pass('an activator added before us: index 2 of 4')

  // A second slice of the same service: the union counts, in string order (10.0.0.10 < 10.0.0.2).
  api.apply(SLICES, endpointSlice('default', 'hello-00001-b', publicLabels('hello-00001'), activatorIps('10.0.0.10')))
  await waitSlot({ index: 3, count: 5 })
  t.pass('union of slices: index 3 of 5')

  // Activators going unready or away.
  api.apply(SLICES, endpointSlice('default', 'hello-00001-a', publicLabels('hello-00001'), [{ ip: '10.0.0.0', ready: false }, { ip: '10.0.0.1', ready: false }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }]))
  await waitSlot({ index: 1, count: 3 })
  t.pass('unready addresses do not count')
  api.remove(SLICES, 'default', 'hello-00001-b')
  await waitSlot({ index: 0, count: 2 })
  t.pass('a deleted slice no longer counts')

  // POD_IP leaves the list (Knative's subsetting dropped us, or serve mode lists the pods): unchanged.
  const calls = sink.calls.length
  api.apply(SLICES, endpointSlice('default', 'hello-00001-a', publicLabels('hello-00001'), activatorIps('10.0.0.3', '10.0.0.4')))
  // An empty slice after it on the same watch: once it is seen, so was the change before it.
  api.apply(SLICES, endpointSlice('default', 'hello-00001-c', publicLabels('hello-00001'), []))
  await api.until(() => s.stats().publicSlices === 2)
  t.same(slotOf(sink, HELLO), { index: 0, count: 2 }, 'POD_IP not listed: the slot stays')
  t.equal(sink.calls.length, calls, 'nothing emitted')

  api.apply(SLICES, endpointSlice('default', 'hello-00001-a', publicLabels('hello-00001'), activatorIps('10.0.0.3', '10.0.0.2', '10.0.0.4')))
  await waitSlot({ index: 0, count: 3 })
  t.pass('back in the list: recomputed')
})

t.test('POD_IP never listed: the revision keeps the activator\'s own slot (null)', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  // world: serve mode, its public endpoints are its pods.
  api.apply(REVISIONS, knativeRevision('default', 'world-00001', { containerConcurrency: 1 }))
  api.apply(SLICES, endpointSlice('default', 'world-00001-private', privateLabels('world-00001'), [{ ip: '10.2.0.1' }]))
  api.apply(SLICES, endpointSlice('default', 'world-00001-a', publicLabels('world-00001'), activatorIps('10.2.0.1')))
  const sink = new MemorySink()
  await source(t, api).start(sink)
  t.equal(slotOf(sink, 'default/world-00001'), null)
  t.same(slotOf(sink, HELLO), { index: 1, count: 3 })
})

t.test('a public slice before its Revision: the slot waits; forgotten with the revision', async (t) => {
  const api = await startFakeKubeApi(t)
  const sink = new MemorySink()
  const s = source(t, api)
  await s.start(sink)
  await api.until(() => api.openWatches(SLICES) === 2 && api.openWatches(REVISIONS) === 1)

  // The two watches are separate streams: wait for the slice to be seen before sending the Revision.
  api.apply(SLICES, endpointSlice('default', 'new-00001-a', publicLabels('new-00001'), activatorIps('10.0.0.1', '10.0.0.2')))
  await api.until(() => s.stats().publicSlices === 1)
  t.equal(sink.get('default/new-00001'), undefined, 'a public slice alone does not make a revision known')
  api.apply(REVISIONS, knativeRevision('default', 'new-00001', { containerConcurrency: 1 }))
  await sink.until(() => sink.get('default/new-00001') !== undefined)
  t.same(slotOf(sink, 'default/new-00001'), { index: 1, count: 2 }, 'first emitted with the slot learned before')

  // The revision goes, with its public service; it comes back with a public service we are not in.
  api.remove(REVISIONS, 'default', 'new-00001')
  api.remove(SLICES, 'default', 'new-00001-a')
  await sink.until(() => sink.get('default/new-00001') === undefined)
  await api.until(() => s.stats().publicSlices === 0)
  api.apply(SLICES, endpointSlice('default', 'new-00001-a', publicLabels('new-00001'), activatorIps('10.0.0.1')))
  api.apply(REVISIONS, knativeRevision('default', 'new-00001', { containerConcurrency: 1 }))
  await sink.until(() => sink.get('default/new-00001') !== undefined)
  t.equal(slotOf(sink, 'default/new-00001'), null, 'the old slot was forgotten')
})

t.test('a relist recomputes slots and keeps them when POD_IP is missing', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  const s = source(t, api)
  await s.start(sink)
  await api.until(() => api.openWatches(SLICES) === 2)
  api.applySilently(SLICES, endpointSlice('default', 'hello-00001-a', publicLabels('hello-00001'), activatorIps('10.0.0.2', '10.0.0.3')))
  api.expireWatches()
  await sink.until(() => sameSlot(slotOf(sink, HELLO), { index: 0, count: 2 }))
  t.pass('relisted: index 0 of 2')
  await api.until(() => api.openWatches(SLICES) === 2)
  api.applySilently(SLICES, endpointSlice('default', 'hello-00001-a', publicLabels('hello-00001'), activatorIps('10.0.0.3')))
  api.removeSilently(SLICES, 'default', 'hello-00001-private-a')
  api.expireWatches()
  await sink.until(() => sink.get(HELLO)?.endpoints.length === 0)
  await api.until(() => s.stats().publicSliceLists >= 3)
  t.same(slotOf(sink, HELLO), { index: 0, count: 2 }, 'POD_IP gone from the relisted slices: kept')
})

t.test('without podIp the public services are not watched', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  const s = source(t, api, { podIp: '' })
  await s.start(sink)
  t.equal(slotOf(sink, HELLO), null)
  await api.until(() => api.openWatches(SLICES) === 1 && api.openWatches(REVISIONS) === 1)
  t.notOk(api.requests.some((r) => r.query.get('labelSelector') === PUBLIC_SELECTOR), 'never asks for public slices')
  t.equal(s.stats().publicSliceLists, 0)
})

t.test('through the activator: 4 pods, 2 activators in the public endpoints -> this replica\'s 2 pods', async (t) => {
  const api = await startFakeKubeApi(t)
  const pods = [await startFakePod(t), await startFakePod(t), await startFakePod(t), await startFakePod(t)]
  api.apply(REVISIONS, knativeRevision('default', 'split-00001', { containerConcurrency: 2 }))
  // One private slice per pod: a slice has one port, and the fake pods listen on different ones.
  for (const [i, p] of pods.entries()) {
    api.apply(SLICES, endpointSlice('default', `split-00001-private-${i}`, privateLabels('split-00001'), [{ ip: '127.0.0.1' }], { port: p.port }))
  }
  api.apply(SLICES, endpointSlice('default', 'split-00001-a', publicLabels('split-00001'), activatorIps('10.0.0.2', '10.0.0.1')))
  const s = new KubernetesSource({ kubeConfig: api.url, logger: silentLogger(), podIp: POD_IP, backoff: { initialMs: 10, maxMs: 40 } })
  const { activator } = await startActivator(t, [], { sources: [s] })
  const revision = activator.registry.lookup('default', 'split-00001')
  await until(() => revision?.readyCount === 4, 3000, '4 endpoints ready')
  const sorted = pods.map((p) => p.dest).sort()
  t.same(revision?.throttler.activators, { index: 1, count: 2 })
  t.same(revision?.throttler.assigned.map((x) => x.dest), sorted.slice(2), 'index 1 of 2: the upper half')
  t.equal(revision?.throttler.capacity, 4, 'two pods at CC 2')
  t.same(activator.registry.activators, { index: -1, count: 1 }, 'the registry\'s own slot is untouched')

  // A third activator joins after us: the pods are cut in three.
  await api.until(() => api.openWatches(SLICES) === 2)
  api.apply(SLICES, endpointSlice('default', 'split-00001-a', publicLabels('split-00001'), activatorIps('10.0.0.2', '10.0.0.1', '10.0.0.3')))
  await until(() => revision?.throttler.activators.count === 3, 3000, 'three activators')
  t.same(revision?.throttler.assigned.map((x) => x.dest), [sorted[1]], 'index 1 of 3 over 4 pods: the second pod')
})
