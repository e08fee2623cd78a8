import t from 'tap'
import type { RevisionSpec } from '../../../src/activator/revision-spec.ts'
import { kubeConfigForServer } from '../../../src/kube/kube-config.ts'
import { parseEndpointSlice } from '../../../src/activator/sources/kube-objects.ts'
import { KubernetesSource } from '../../../src/activator/sources/kubernetes.ts'
import { RevisionSourceError } from '../../../src/shared/errors.ts'
import { silentLogger } from '../../../src/shared/logger.ts'
import { endpointSlice, knativeRevision, privateLabels, type FakeKubeApi } from './fake-kube-api.ts'
import { kubeSource, startFakeKubeApi } from './kube-source-fixture.ts'
import { MemorySink } from './memory-sink.ts'


const SLICES = 'endpointslices'
const REVISIONS = 'revisions'

const source = kubeSource

function spec (namespace: string, name: string, fields: Partial<RevisionSpec> = {}): RevisionSpec {
  return { namespace, name, containerConcurrency: 0, endpoints: [], hosts: [], timeoutSeconds: null, lbPolicy: null, activators: null, ...fields }
}

/** A Knative cluster: hello (2 slices, CC 2), world (scaled to zero, no slice), plus noise. */
function seed (api: FakeKubeApi): void {
  api.apply(REVISIONS, knativeRevision('default', 'hello-00001', { containerConcurrency: 2, timeoutSeconds: 300 }))
  api.apply(REVISIONS, knativeRevision('apps', 'world-00001', { containerConcurrency: 0 }))
  api.apply(SLICES, endpointSlice('default', 'hello-00001-private-a', privateLabels('hello-00001'), [
    { ip: '10.0.0.2' },
    { ip: '10.0.0.1', ready: true, more: ['10.0.9.9'] },
    { ip: '10.0.0.3', ready: false },
  ], { extraPorts: [{ name: 'http-autometric', port: 9090 }, { name: 'http-queueadm', port: 8022 }] }))
  api.apply(SLICES, endpointSlice('default', 'hello-00001-private-b', privateLabels('hello-00001'), [{ ip: '10.0.1.1', ready: true }]))
  // The public service's slice points at the activator: excluded by the selector.
  api.apply(SLICES, endpointSlice('default', 'hello-00001-public', { 'serving.knative.dev/revision': 'hello-00001', 'networking.internal.knative.dev/serviceType': 'Public' }, [{ ip: '10.9.9.9' }]))
  // Not a Knative slice at all.
  api.apply(SLICES, endpointSlice('default', 'kubernetes', { 'kubernetes.io/service-name': 'kubernetes' }, [{ ip: '10.96.0.1' }]))
}

const HELLO = spec('default', 'hello-00001', {
  containerConcurrency: 2,
  endpoints: ['10.0.0.1:8012', '10.0.0.2:8012', '10.0.1.1:8012'],
  // Probed by the activator, used once it answers (Knative's probe optimisation).
  notReadyEndpoints: ['10.0.0.3:8012'],
  timeoutSeconds: 300,
})
const WORLD = spec('apps', 'world-00001')

t.test('initial list: revisions with the ready endpoints of their private slices', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  const s = source(t, api)
  await s.start(sink)
  t.same(sink.keys(), ['apps/world-00001', 'default/hello-00001'])
  t.same(sink.get('default/hello-00001'), HELLO)
  t.same(sink.get('apps/world-00001'), WORLD, 'scaled to zero: known, no endpoints')
  t.equal(sink.calls.length, 2, 'one upsert each')

  const sliceList = api.requests.find((r) => r.path === '/apis/discovery.k8s.io/v1/endpointslices' && !r.query.has('watch'))
  t.equal(sliceList?.query.get('labelSelector'), 'serving.knative.dev/revision,networking.internal.knative.dev/serviceType=Private')
  t.ok(api.requests.some((r) => r.path === '/apis/serving.knative.dev/v1/revisions'), 'lists Knative revisions cluster-wide')
  await api.until(() => api.openWatches(SLICES) === 1 && api.openWatches(REVISIONS) === 1)
  const watch = api.requests.find((r) => r.path.endsWith('/endpointslices') && r.query.get('watch') === '1')
  t.ok(watch !== undefined && Number(watch.query.get('resourceVersion')) > 0, 'watches from the list resourceVersion')
  t.equal(watch?.query.get('allowWatchBookmarks'), 'true')
})

t.test('watched slices: added, modified, deleted', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  await source(t, api).start(sink)
  await api.until(() => api.openWatches(SLICES) === 1)

  // world scales up: a slice appears.
  api.apply(SLICES, endpointSlice('apps', 'world-00001-private-x', privateLabels('world-00001'), [{ ip: '10.1.0.1', ready: true }]))
  await sink.until(() => sink.get('apps/world-00001')?.endpoints.length === 1)
  t.same(sink.get('apps/world-00001')?.endpoints, ['10.1.0.1:8012'])

  // An endpoint turns ready, another unready.
  api.apply(SLICES, endpointSlice('apps', 'world-00001-private-x', privateLabels('world-00001'), [{ ip: '10.1.0.1', ready: false }, { ip: '10.1.0.2', ready: true }]))
  await sink.until(() => sink.get('apps/world-00001')?.endpoints[0] === '10.1.0.2:8012')
  t.same(sink.get('apps/world-00001')?.endpoints, ['10.1.0.2:8012'])

  t.same(sink.get('apps/world-00001')?.notReadyEndpoints, ['10.1.0.1:8012'], 'the unready one: for the activator to probe')

  // One of hello's two slices goes away: the other's endpoints remain.
  api.remove(SLICES, 'default', 'hello-00001-private-a')
  await sink.until(() => sink.get('default/hello-00001')?.endpoints.length === 1)
  const { notReadyEndpoints: _gone, ...helloWithoutNotReady } = HELLO
  t.same(sink.get('default/hello-00001'), { ...helloWithoutNotReady, endpoints: ['10.0.1.1:8012'] })

  // world scales to zero: its slice is deleted, the revision stays known with no endpoints.
  api.remove(SLICES, 'apps', 'world-00001-private-x')
  await sink.until(() => sink.get('apps/world-00001')?.endpoints.length === 0)
  t.same(sink.get('apps/world-00001'), WORLD)

  // A change to an excluded (public) slice is never seen.
  const calls = sink.calls.length
  api.apply(SLICES, endpointSlice('default', 'hello-00001-public', { 'serving.knative.dev/revision': 'hello-00001', 'networking.internal.knative.dev/serviceType': 'Public' }, [{ ip: '10.9.9.8' }]))
  api.apply(SLICES, endpointSlice('default', 'hello-00001-private-b', privateLabels('hello-00001'), [{ ip: '10.0.1.1', ready: true }, { ip: '10.0.1.2' }]))
  await sink.until(() => sink.get('default/hello-00001')?.endpoints.length === 2)
  t.equal(sink.calls.length, calls + 1, 'only the private slice change reached the sink')
})

t.test('watched revisions: containerConcurrency and timeout changes, add and delete', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  await source(t, api).start(sink)
  await api.until(() => api.openWatches(REVISIONS) === 1)

  api.apply(REVISIONS, knativeRevision('default', 'hello-00001', { containerConcurrency: 10, timeoutSeconds: 60 }))
  await sink.until(() => sink.get('default/hello-00001')?.containerConcurrency === 10)
  t.same(sink.get('default/hello-00001'), { ...HELLO, containerConcurrency: 10, timeoutSeconds: 60 })

  // A slice that arrives before its Revision is held back until the Revision is known.
  api.apply(SLICES, endpointSlice('default', 'new-00001-private-a', privateLabels('new-00001'), [{ ip: '10.2.0.1' }]))
  await new Promise((resolve) => setTimeout(resolve, 30))
  t.equal(sink.get('default/new-00001'), undefined, 'no Revision yet: not emitted with a guessed concurrency')
  api.apply(REVISIONS, knativeRevision('default', 'new-00001', { containerConcurrency: 1 }))
  await sink.until(() => sink.get('default/new-00001') !== undefined)
  t.same(sink.get('default/new-00001'), spec('default', 'new-00001', { containerConcurrency: 1, endpoints: ['10.2.0.1:8012'] }))

  api.remove(REVISIONS, 'default', 'new-00001')
  await sink.until(() => sink.get('default/new-00001') === undefined)
  t.same(sink.calls.at(-1), { op: 'remove', key: 'default/new-00001' })
})

t.test('a Revision with an exec readiness probe: not-ready pods are not offered (only kubelet can tell)', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const exec = knativeRevision('default', 'hello-00001', { containerConcurrency: 2, timeoutSeconds: 300 })
  exec.spec = { ...(exec.spec as Record<string, unknown>), containers: [{ image: 'example', readinessProbe: { exec: { command: ['ready'] } } }] }
  api.apply(REVISIONS, exec)
  const sink = new MemorySink()
  await source(t, api).start(sink)
  const { notReadyEndpoints: _probed, ...hello } = HELLO
  t.same(sink.get('default/hello-00001'), hello)
})

t.test('endpoint selection from a slice', async (t) => {
  const labels = privateLabels('r')
  const parse = (obj: unknown): readonly string[] => parseEndpointSlice(obj, 'serving.knative.dev/revision', ['http', 'http2'])?.endpoints ?? ['unparsed']
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', ready: false }, { ip: '10.0.0.3', ready: true }])),
    ['10.0.0.1:8012', '10.0.0.3:8012'], 'ready nil counts as ready; ready false is excluded')
  const notReady = (obj: unknown): readonly string[] => parseEndpointSlice(obj, 'serving.knative.dev/revision', ['http', 'http2'])?.notReadyEndpoints ?? ['unparsed']
  const terminating = endpointSlice('ns', 's', labels, [{ ip: '10.0.0.4', ready: false }, { ip: '10.0.0.5', ready: false }, { ip: '10.0.0.1' }])
  const eps = terminating.endpoints as Array<{ conditions: Record<string, unknown> }>
  if (eps[1] !== undefined) eps[1].conditions = { ready: false, serving: true, terminating: true }
  t.same(notReady(terminating), ['10.0.0.4:8012'], 'not ready: ready false and not terminating (Knative notReadyAddresses)')
  t.same(notReady(endpointSlice('ns', 's', labels, [{ ip: 'fd00::2', ready: false }], { addressType: 'IPv6' })), ['[fd00::2]:8012'], 'not ready, IPv6')
  t.same(notReady(endpointSlice('ns', 's', labels, [{ ip: '10.0.0.2', ready: false }], { portName: 'grpc' })), [], 'no http/http2 port: none')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: '10.0.0.1', more: ['10.0.0.7'] }])), ['10.0.0.1:8012'], 'first address only')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: 'fd00::1' }], { addressType: 'IPv6' })), ['[fd00::1]:8012'], 'IPv6 bracketed')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: '10.0.0.1' }], { portName: 'http2', port: 8013 })), ['10.0.0.1:8013'], 'h2c revisions: port http2')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: '10.0.0.1' }], { portName: 'grpc' })), [], 'no http/http2 port: no endpoints')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: 'pod.example' }], { addressType: 'FQDN' })), [], 'FQDN slices are not used')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: 'not-an-ip' }])), [], 'garbage addresses are skipped')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: '10.0.0.1' }, { ip: '10.0.0.1' }])), ['10.0.0.1:8012'], 'deduplicated')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: '10.0.0.1' }, { ip: '10.0.0.10' }])), ['10.0.0.10:8012', '10.0.0.1:8012'], 'sorted as host:port strings')
  t.equal(parseEndpointSlice({ metadata: { name: 'x' } }, 'l', ['http']), null, 'no namespace: skipped')
  t.equal(parseEndpointSlice(endpointSlice('ns', 's', {}, []), 'serving.knative.dev/revision', ['http'])?.revision, null)
})

t.test('a 410 ERROR event makes the source relist and catch up', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  const s = source(t, api)
  await s.start(sink)
  await api.until(() => api.openWatches(SLICES) === 1 && api.openWatches(REVISIONS) === 1)
  const listsBefore = api.count(SLICES, 'list')

  // Changes the watch never reports (history compacted), then the watch expires.
  api.removeSilently(SLICES, 'default', 'hello-00001-private-b')
  api.removeSilently(REVISIONS, 'apps', 'world-00001')
  api.applySilently(SLICES, endpointSlice('default', 'hello-00001-private-c', privateLabels('hello-00001'), [{ ip: '10.0.2.1' }]))
  api.expireWatches()

  await sink.until(() => sink.get('apps/world-00001') === undefined && sink.get('default/hello-00001')?.endpoints.includes('10.0.2.1:8012') === true)
  t.same(sink.get('default/hello-00001')?.endpoints, ['10.0.0.1:8012', '10.0.0.2:8012', '10.0.2.1:8012'])
  t.ok(api.count(SLICES, 'list') > listsBefore, 'relisted')
  await api.until(() => api.openWatches(SLICES) === 1 && api.openWatches(REVISIONS) === 1)
  t.ok(s.stats().sliceWatches >= 2, 'watching again')

  // And the new watch delivers events.
  api.apply(SLICES, endpointSlice('default', 'hello-00001-private-c', privateLabels('hello-00001'), []))
  await sink.until(() => sink.get('default/hello-00001')?.endpoints.length === 2)
  t.pass('new watch works')
})

t.test('a watch answered with HTTP 410 relists too', async (t) => {
  const api = await startFakeKubeApi(t)
  api.goneAs = 'status'
  seed(api)
  const sink = new MemorySink()
  const s = source(t, api)
  await s.start(sink)
  await api.until(() => api.openWatches(SLICES) === 1)
  api.apply(SLICES, endpointSlice('default', 'hello-00001-private-b', privateLabels('hello-00001'), [{ ip: '10.0.1.1' }, { ip: '10.0.1.5' }]))
  await sink.until(() => sink.get('default/hello-00001')?.endpoints.length === 4)

  // The server ends the watch; by the time we come back, our resourceVersion is too old.
  api.removeSilently(SLICES, 'default', 'hello-00001-private-a')
  api.endWatches()
  await sink.until(() => sink.get('default/hello-00001')?.endpoints.length === 2)
  t.same(sink.get('default/hello-00001')?.endpoints, ['10.0.1.1:8012', '10.0.1.5:8012'])
  t.ok(api.requests.some((r) => r.path.endsWith('/endpointslices') && r.query.get('watch') === '1' && r.query.get('resourceVersion') !== null), 'tried to resume first')
  t.ok(s.stats().sliceLists >= 2, 'then relisted')
})

t.test('a cleanly ended watch resumes from its resourceVersion without a relist', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  const s = source(t, api)
  await s.start(sink)
  await api.until(() => api.openWatches(SLICES) === 1)
  api.apply(SLICES, endpointSlice('apps', 'world-00001-private-x', privateLabels('world-00001'), [{ ip: '10.1.0.1' }]))
  await sink.until(() => sink.get('apps/world-00001')?.endpoints.length === 1)
  const rvSeen = api.resourceVersion
  api.endWatches()
  await api.until(() => api.openWatches(SLICES) === 1)
  const resumed = api.requests.filter((r) => r.path.endsWith('/endpointslices') && r.query.get('watch') === '1').at(-1)
  t.equal(resumed?.query.get('resourceVersion'), String(rvSeen), 'from the last event')
  t.equal(s.stats().sliceLists, 1, 'no relist')
  api.remove(SLICES, 'apps', 'world-00001-private-x')
  await sink.until(() => sink.get('apps/world-00001')?.endpoints.length === 0)
  t.pass('events flow on the resumed watch')
})

t.test('relist failures back off and recover', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  const s = source(t, api)
  await s.start(sink)
  await api.until(() => api.openWatches(SLICES) === 1 && api.openWatches(REVISIONS) === 1)
  api.failLists(3, 500)
  api.removeSilently(SLICES, 'default', 'hello-00001-private-a')
  api.expireWatches()
  await sink.until(() => sink.get('default/hello-00001')?.endpoints.length === 1)
  t.same(sink.get('default/hello-00001')?.endpoints, ['10.0.1.1:8012'])
  // The slice loop can recover before the revision loop has relisted: wait for both watches to be
  // back before counting (2 first lists + 3 failed + 2 successful relists).
  await api.until(() => api.openWatches(SLICES) === 1 && api.openWatches(REVISIONS) === 1)
  const st = s.stats()
  t.equal(st.sliceLists + st.revisionLists, 2 + 3 + 2, 'failed lists were retried, then both loops relisted once')
})

t.test('start fails with a RevisionSourceError when the first list fails', async (t) => {
  const api = await startFakeKubeApi(t)
  api.failLists(2, 403)
  const err = await source(t, api).start(new MemorySink()).then(() => null, (e: unknown) => e)
  t.ok(err instanceof RevisionSourceError)
  if (err instanceof RevisionSourceError) {
    t.equal(err.code, 'SLUICE_ERR_ACTIVATOR_SOURCE_FAILED')
    t.match(err.message, /^kubernetes: cannot list (endpointslices\.discovery\.k8s\.io|revisions\.serving\.knative\.dev): HTTP 403: injected failure 403 \(the service account needs list and watch/)
  }
  t.equal(api.openWatches(SLICES) + api.openWatches(REVISIONS), 0, 'nothing left watching')
})

t.test('start fails when the API server is unreachable', async (t) => {
  const api = await startFakeKubeApi(t)
  const url = api.url
  await api.close()
  const s = new KubernetesSource({ kubeConfig: kubeConfigForServer(url), logger: silentLogger() })
  const err = await s.start(new MemorySink()).then(() => null, (e: unknown) => e)
  t.ok(err instanceof RevisionSourceError)
  t.match(err instanceof Error ? err.message : '', /^kubernetes: cannot list .*: /)
})

t.test('close() ends the watches and stops delivering', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  const s = source(t, api)
  await s.start(sink)
  await api.until(() => api.openWatches(SLICES) === 1 && api.openWatches(REVISIONS) === 1)
  const started = performance.now()
  await s.close()
  t.ok(performance.now() - started < 1000, 'close is prompt')
  await api.until(() => api.openWatches(SLICES) === 0 && api.openWatches(REVISIONS) === 0)
  const calls = sink.calls.length
  const requests = api.requests.length
  api.apply(SLICES, endpointSlice('apps', 'world-00001-private-x', privateLabels('world-00001'), [{ ip: '10.1.0.1' }]))
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(sink.calls.length, calls, 'no more sink calls')
  t.equal(api.requests.length, requests, 'no reconnect')
})

t.test('close() during backoff returns at once', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  const s = source(t, api, { backoff: { initialMs: 60_000, maxMs: 60_000 } })
  await s.start(sink)
  await api.until(() => api.openWatches(SLICES) === 1)
  api.failLists(100, 500)
  api.expireWatches()
  await api.until(() => api.count(SLICES, 'list') >= 2)
  const started = performance.now()
  await s.close()
  t.ok(performance.now() - started < 1000, 'did not wait out the 60 s backoff')
})

t.test('without watching Revisions: revisions come from slices alone', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  const sink = new MemorySink()
  await source(t, api, { watchRevisions: false, defaultContainerConcurrency: 5 }).start(sink)
  t.same(sink.keys(), ['default/hello-00001'], 'world has no slice')
  const { notReadyEndpoints: _probed, ...hello } = HELLO
  t.same(sink.get('default/hello-00001'), { ...hello, containerConcurrency: 5, timeoutSeconds: null },
    'no Revision to rule out exec/startup probes: not-ready pods wait for kubelet')
  t.notOk(api.requests.some((r) => r.path.includes('serving.knative.dev')), 'never asks for Revisions')
  await api.until(() => api.openWatches(SLICES) === 1)
  api.remove(SLICES, 'default', 'hello-00001-private-a')
  api.remove(SLICES, 'default', 'hello-00001-private-b')
  await sink.until(() => sink.get('default/hello-00001') === undefined)
  t.pass('removed with its last slice')
})

t.test('one namespace, custom selector and paged lists', async (t) => {
  const api = await startFakeKubeApi(t)
  seed(api)
  api.apply(SLICES, endpointSlice('apps', 'world-00001-private-x', privateLabels('world-00001'), [{ ip: '10.1.0.1' }]))
  api.apply(SLICES, endpointSlice('apps', 'world-00001-private-y', privateLabels('world-00001'), [{ ip: '10.1.0.2' }]))
  api.apply(SLICES, endpointSlice('apps', 'world-00001-private-z', privateLabels('world-00001'), [{ ip: '10.1.0.3' }]))
  const sink = new MemorySink()
  await source(t, api, { namespace: 'apps', labelSelector: 'networking.internal.knative.dev/serviceType=Private', pageSize: 1 }).start(sink)
  t.same(sink.keys(), ['apps/world-00001'])
  t.same(sink.get('apps/world-00001')?.endpoints, ['10.1.0.1:8012', '10.1.0.2:8012', '10.1.0.3:8012'])
  const lists = api.requests.filter((r) => r.path === '/apis/discovery.k8s.io/v1/namespaces/apps/endpointslices' && !r.query.has('watch'))
  t.equal(lists.length, 3, 'three pages of one')
  t.equal(lists[1].query.get('continue'), '1')
  t.equal(lists[0].query.get('labelSelector'), 'networking.internal.knative.dev/serviceType=Private')
  t.ok(api.requests.some((r) => r.path === '/apis/serving.knative.dev/v1/namespaces/apps/revisions'))
})
