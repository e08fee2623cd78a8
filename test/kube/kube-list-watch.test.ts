// ListWatchLoop on its own against the fake API server (real HTTP): a paged list hands over the whole
// set, watch events follow from its resourceVersion, a 410 relists at once (so a change missed while
// the watch was gone is seen), failed lists and watches back off and recover, and close() ends it.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { KubeApiClient } from '../../src/kube/kube-api-client.ts'
import { kubeConfigForServer, EMPTY_REST_CONFIG, type KubeRestConfig } from '../../src/kube/kube-config.ts'
import { describeKubeError, KubeListError, ListWatchLoop, type WatchEventType } from '../../src/kube/kube-list-watch.ts'
import { KubeApiError } from '../../src/shared/errors.ts'
import { silentLogger, type Logger } from '../../src/shared/logger.ts'
import { makeCa, makeLeaf, SKIP_WITHOUT_OPENSSL } from '../helpers/test-certs.ts'
import { captureLogger } from '../activator/sources/capture-logger.ts'
import { until } from '../activator/fixtures.ts'
import { knativeRevision, privateService, type FakeKubeApi } from '../activator/sources/fake-kube-api.ts'
import { startFakeKubeApi, type Teardown } from '../activator/sources/kube-source-fixture.ts'

const REVISIONS = { group: 'serving.knative.dev', version: 'v1', plural: 'revisions' }

class Recorder {
  lists: string[][] = []
  events: string[] = []
  onList (items: readonly unknown[]): void { this.lists.push(items.map(nameOf).sort()) }
  onEvent (type: WatchEventType, object: unknown): void { this.events.push(`${type} ${nameOf(object)}`) }
}

function nameOf (o: unknown): string {
  if (typeof o !== 'object' || o === null || !('metadata' in o)) return '?'
  const m = o.metadata
  return typeof m === 'object' && m !== null && 'name' in m && typeof m.name === 'string' ? m.name : '?'
}

function client (t: Teardown, api: FakeKubeApi, config: KubeRestConfig = kubeConfigForServer(api.url)): KubeApiClient {
  const c = new KubeApiClient({ config, logger: silentLogger() })
  t.teardown(() => { c.close() })
  return c
}

function loop (t: Teardown, api: FakeKubeApi, rec: Recorder, namespace: string | null = null, pageSize = 2, resource = REVISIONS, logger: Logger = silentLogger(), apiClient: KubeApiClient = client(t, api)): ListWatchLoop {
  const l = new ListWatchLoop({
    client: apiClient,
    resource,
    namespace,
    labelSelector: '',
    handler: rec,
    logger,
    backoff: { initialMs: 10, maxMs: 40 },
    pageSize,
    random: () => 0.5,
  })
  t.teardown(() => l.close())
  return l
}

t.test('a paged list hands over every object; the watch then delivers each change once', async (t) => {
  const api = await startFakeKubeApi(t)
  for (const n of ['a', 'b', 'c', 'd', 'e']) api.apply('revisions', knativeRevision('default', n))
  const rec = new Recorder()
  const l = loop(t, api, rec)
  await l.list()
  t.same(rec.lists, [['a', 'b', 'c', 'd', 'e']], 'five objects over pages of two')
  const lists = api.requests.filter((r) => r.path.endsWith('/revisions') && r.query.get('watch') === null)
  t.equal(lists.length, 3, 'three pages')
  t.same(lists.map((r) => r.query.get('limit')), ['2', '2', '2'])
  t.equal(l.resourceVersion, String(api.resourceVersion), 'the list\'s snapshot version')

  l.watchInBackground()
  await until(() => api.openWatches('revisions') === 1, 3000, 'watching')
  api.apply('revisions', knativeRevision('default', 'f'))
  api.apply('revisions', knativeRevision('default', 'a', { containerConcurrency: 3 }))
  api.remove('revisions', 'default', 'b')
  await until(() => rec.events.length === 3, 3000, 'events')
  t.same(rec.events, ['ADDED f', 'MODIFIED a', 'DELETED b'])
  t.equal(l.resourceVersion, String(api.resourceVersion), 'follows the events')
  t.equal(l.listCount, 1, 'no relist while the watch is healthy')
})

t.test('a namespace limits list and watch to it', async (t) => {
  const api = await startFakeKubeApi(t)
  api.apply('revisions', knativeRevision('default', 'a'))
  api.apply('revisions', knativeRevision('other', 'b'))
  const rec = new Recorder()
  const l = loop(t, api, rec, 'other')
  await l.list()
  t.same(rec.lists, [['b']])
  t.ok(api.requests.every((r) => r.path === '/apis/serving.knative.dev/v1/namespaces/other/revisions'))
})

t.test('410 Gone: relists at once and hands over the complete set, with what the watch missed', async (t) => {
  const api = await startFakeKubeApi(t)
  api.apply('revisions', knativeRevision('default', 'a'))
  api.apply('revisions', knativeRevision('default', 'b'))
  const rec = new Recorder()
  const l = loop(t, api, rec)
  await l.list()
  l.watchInBackground()
  await until(() => api.openWatches('revisions') === 1, 3000, 'watching')
  api.removeSilently('revisions', 'default', 'b')
  api.expireWatches()
  await until(() => rec.lists.length === 2, 3000, 'relisted')
  t.same(rec.lists[1], ['a'], 'the silent delete is reconciled by the relist')
  await until(() => api.openWatches('revisions') === 1, 3000, 'watching again')
  api.apply('revisions', knativeRevision('default', 'c'))
  await until(() => rec.events.includes('ADDED c'), 3000, 'events after the relist')
})

t.test('a failed first list rejects with the status; failed relists back off and recover', async (t) => {
  const api = await startFakeKubeApi(t)
  api.apply('revisions', knativeRevision('default', 'a'))
  const rec = new Recorder()
  const l = loop(t, api, rec)
  api.failLists(1, 403)
  const err = await l.list().then(() => null, (e: unknown) => e)
  t.ok(err instanceof KubeListError)
  t.equal(err instanceof KubeListError ? err.status : null, 403)
  t.match(String(err instanceof Error ? err.message : ''), 'cannot list revisions.serving.knative.dev: HTTP 403')
  t.same(rec.lists, [], 'nothing handed over')

  await l.list()
  l.watchInBackground()
  await until(() => api.openWatches('revisions') === 1, 3000, 'watching')
  api.failLists(2, 500)
  api.applySilently('revisions', knativeRevision('default', 'z'))
  api.expireWatches()
  await until(() => rec.lists.length === 2, 3000, 'relisted after two failures')
  t.same(rec.lists[1], ['a', 'z'])
  t.equal(l.listCount, 5, 'first failed, first ok, two failed relists, the good one')
})

t.test('close() ends the watch; nothing more is handed over', async (t) => {
  const api = await startFakeKubeApi(t)
  const rec = new Recorder()
  const l = loop(t, api, rec)
  await l.list()
  l.watchInBackground()
  await until(() => api.openWatches('revisions') === 1, 3000, 'watching')
  await l.close()
  await until(() => api.openWatches('revisions') === 0, 3000, 'watch closed by the client')
  api.apply('revisions', knativeRevision('default', 'late'))
  t.same(rec.events, [])
  t.equal(l.watchCount, 1, 'no new watch after close')
})

t.test('core resources: listed and watched under /api/v1, paged like any group', async (t) => {
  const api = await startFakeKubeApi(t)
  for (const n of ['s1', 's2', 's3']) api.apply('services', privateService('default', n, '10.0.0.1', 80))
  const rec = new Recorder()
  const l = loop(t, api, rec, 'default', 2, { group: '', version: 'v1', plural: 'services' })
  await l.list()
  t.same(rec.lists, [['s1-private', 's2-private', 's3-private']])
  const lists = api.requests.filter((r) => r.query.get('watch') === null)
  t.same(lists.map((r) => r.path), ['/api/v1/namespaces/default/services', '/api/v1/namespaces/default/services'])
  t.same(lists.map((r) => r.query.get('continue')), [null, '2'], 'continue, not _continue')
  l.watchInBackground()
  await until(() => api.openWatches('services') === 1, 3000, 'watching')
  api.remove('services', 'default', 's1-private')
  await until(() => rec.events.length === 1, 3000, 'event')
  t.same(rec.events, ['DELETED s1-private'])
})

t.test('describeKubeError: a KubeApiError\'s message, else the error and its cause', async (t) => {
  t.equal(describeKubeError(new KubeApiError('HTTP 403: forbidden: no', 403)), 'HTTP 403: forbidden: no')
  t.equal(describeKubeError(new Error('fetch failed', { cause: new Error('ECONNREFUSED') })), 'fetch failed: ECONNREFUSED')
  t.equal(describeKubeError('odd'), 'odd')
})

async function watching (t: Teardown, api: FakeKubeApi, rec: Recorder, logger: Logger = silentLogger()): Promise<ListWatchLoop> {
  const l = loop(t, api, rec, null, 2, REVISIONS, logger)
  await l.list()
  l.watchInBackground()
  await until(() => api.openWatches('revisions') === 1, 3000, 'watching')
  return l
}

const WATCH_FAILED = 'kubernetes watch failed; relisting after backoff'

t.test('BOOKMARK moves the resourceVersion without reaching the handler; the next watch resumes from it', async (t) => {
  const api = await startFakeKubeApi(t)
  const rec = new Recorder()
  const l = await watching(t, api, rec)
  api.bookmark()
  const bookmarkRv = String(api.resourceVersion)
  await until(() => l.resourceVersion === bookmarkRv, 3000, 'bookmark seen')
  api.endWatches()
  await until(() => api.count('revisions', 'watch') === 2 && api.openWatches('revisions') === 1, 3000, 'watching again')
  t.equal(api.requests.at(-1)?.query.get('resourceVersion'), bookmarkRv)
  t.same(rec.events, [], 'nothing handed over')
  t.equal(l.listCount, 1, 'no relist')
})

t.test('a watch event split over several chunks is delivered once, whole', async (t) => {
  const api = await startFakeKubeApi(t)
  const rec = new Recorder()
  await watching(t, api, rec)
  const line = JSON.stringify({ type: 'ADDED', object: { ...knativeRevision('default', 'split'), metadata: { name: 'split', namespace: 'default', resourceVersion: '999999' } } }) + '\n'
  for (const piece of [line.slice(0, 5), line.slice(5, 40), line.slice(40, -1), line.slice(-1)]) {
    api.writeToWatches('revisions', piece)
    await new Promise((resolve) => setImmediate(resolve))
  }
  await until(() => rec.events.length === 1, 3000, 'event')
  t.same(rec.events, ['ADDED split'])
})

t.test('a malformed event line ends the watch: logged, relisted after backoff', async (t) => {
  const api = await startFakeKubeApi(t)
  const rec = new Recorder()
  const { logger, lines } = captureLogger()
  await watching(t, api, rec, logger)
  api.applySilently('revisions', knativeRevision('default', 'missed'))
  api.writeToWatches('revisions', '{"type":"ADDED","object":\n')
  await until(() => rec.lists.length === 2, 3000, 'relisted')
  t.same(rec.lists[1], ['missed'])
  t.match(lines.find((l) => l.msg === WATCH_FAILED), { reason: /^malformed watch event: /, err: { code: 'SLUICE_ERR_KUBE_API' }, retryInMs: 10 })
})

t.test('the server dying mid-watch: logged, relisted after backoff, what was missed reconciled', async (t) => {
  const api = await startFakeKubeApi(t)
  const rec = new Recorder()
  const { logger, lines } = captureLogger()
  await watching(t, api, rec, logger)
  api.applySilently('revisions', knativeRevision('default', 'while-down'))
  api.killWatches()
  await until(() => rec.lists.length === 2, 3000, 'relisted')
  t.same(rec.lists[1], ['while-down'])
  t.match(lines.find((l) => l.msg === WATCH_FAILED), { reason: /watch stream|closed before its end|aborted|socket hang up/ })
  await until(() => api.openWatches('revisions') === 1, 3000, 'watching again')
})

t.test('an ERROR event with another Status is logged with its message; relisted after backoff', async (t) => {
  const api = await startFakeKubeApi(t)
  const rec = new Recorder()
  const { logger, lines } = captureLogger()
  await watching(t, api, rec, logger)
  api.failWatches(500, 'etcdserver: request timed out')
  await until(() => rec.lists.length === 2, 3000, 'relisted')
  t.match(lines.find((l) => l.msg === 'kubernetes watch ERROR event; relisting after backoff'), { reason: '500 etcdserver: request timed out', retryInMs: 10 })
})

t.test('a certificate that does not verify: relists fail with a clear error and back off until it does', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'sluice-kube-tls-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const ca = makeCa(work, 'kube-ca')
  const good = makeLeaf(work, ca, 'kube-apiserver', ['kube.internal'])
  const bad = makeLeaf(work, makeCa(work, 'rogue-ca'), 'rogue-apiserver', ['kube.internal'])
  const api = await startFakeKubeApi(t, { tls: good })
  api.apply('revisions', knativeRevision('default', 'a'))
  const rec = new Recorder()
  const { logger, lines } = captureLogger()
  const apiClient = client(t, api, { ...EMPTY_REST_CONFIG, host: api.url, caData: ca.cert.toString() })
  const l = loop(t, api, rec, null, 2, REVISIONS, logger, apiClient)
  await l.list()
  l.watchInBackground()
  await until(() => api.openWatches('revisions') === 1, 3000, 'watching')
  api.useCertificate(bad.cert, bad.key)
  api.dropConnections()
  await until(() => lines.filter((x) => x.msg === 'kubernetes relist failed').length >= 2, 3000, 'relists failing')
  const failed = lines.filter((x) => x.msg === 'kubernetes relist failed')
  t.match(failed[0], { reason: /^cannot list revisions\.serving\.knative\.dev: cannot reach https:\/\/127\.0\.0\.1:\d+: the API server's certificate does not verify against the configured CA/ })
  t.ok(Number(failed[1]?.retryInMs) > Number(failed[0]?.retryInMs), 'backing off')
  api.useCertificate(good.cert, good.key)
  await until(() => rec.lists.length === 2, 3000, 'relisted once it verifies')
  await until(() => api.openWatches('revisions') === 1, 3000, 'watching again')
})
