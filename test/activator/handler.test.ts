// ActivatorHandler on its own: probes are answered, every other request is routed to a revision by
// Knative's routing headers, else by Host, else to the default revision; unknown -> 404 with the
// error code. Served by a node:http server; revisions proxy to fake pods over real sockets.
import t from 'tap'
import { ActivatorProbes } from '../../src/activator/activator-probes.ts'
import { ActivatorHandler } from '../../src/activator/handler.ts'
import { RevisionRegistry } from '../../src/activator/revision-registry.ts'
import { ANSWER_CODES, ERROR_CODE_HEADER } from '../../src/shared/errors.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { createClient, route, send, spec, startFakePod, until, type Teardown } from './fixtures.ts'
import { serve, unitContext } from './revision-fixture.ts'

interface Setup {
  url: string
  ports: { a: number, b: number }
  drain: { isDraining: boolean, touches: number, touch (): void }
}

async function setup (t: Teardown, defaultRevision: { namespace: string, name: string } | null = null): Promise<Setup> {
  const u = await unitContext(t)
  const a = await startFakePod(t)
  const b = await startFakePod(t)
  const registry = new RevisionRegistry(() => u.deps(), { index: 0, count: 1 }, silentLogger())
  t.teardown(() => { registry.close() })
  registry.upsert(spec('a', [a.dest], 0, { hosts: ['a.example.com'] }))
  registry.upsert(spec('b', [b.dest], 0, { namespace: 'other' }))
  await until(() => registry.lookup('default', 'a')?.readyCount === 1 && registry.lookup('other', 'b')?.readyCount === 1, 3000, 'ready')
  const drain = { isDraining: false, touches: 0, touch () { this.touches++ } }
  const handler = new ActivatorHandler(registry, new ActivatorProbes({ healthError: () => null }), drain, defaultRevision)
  const url = await serve(t, handler.handle)
  return { url, ports: { a: a.port, b: b.port }, drain }
}

t.test('routes by the Knative-Serving headers first, then by Host', async (t) => {
  const s = await setup(t)
  const agent = createClient(t)
  const cases: Array<[string, Record<string, string>, string]> = [
    ['headers', route('a'), `pod ${s.ports.a}`],
    ['headers in another namespace', { 'knative-serving-namespace': 'other', 'knative-serving-revision': 'b' }, `pod ${s.ports.b}`],
    ['headers win over Host', { ...route('a'), host: 'b.other.svc.cluster.local' }, `pod ${s.ports.a}`],
    ['configured host', { host: 'A.Example.com:8012' }, `pod ${s.ports.a}`],
    ['<name>.<namespace>.svc host', { host: 'b.other.svc.cluster.local' }, `pod ${s.ports.b}`],
    ['one routing header alone falls back to Host', { 'knative-serving-revision': 'b', host: 'a.example.com' }, `pod ${s.ports.a}`],
  ]
  for (const [what, headers, body] of cases) {
    const r = await send(agent, s.url, { headers })
    t.equal(r.status, 200, what)
    t.equal(r.body, body, what)
  }
})

t.test('an unknown revision or host is a 404 with the error code, and the connection stays usable', async (t) => {
  const s = await setup(t)
  const agent = createClient(t)
  const byName = await send(agent, s.url, { method: 'POST', headers: route('nope'), body: 'x'.repeat(1000) })
  t.equal(byName.status, 404)
  t.equal(byName.body, 'revision not found: default/nope\n')
  t.equal(byName.headers[ERROR_CODE_HEADER], ANSWER_CODES.revisionNotFound)
  const byHost = await send(agent, s.url, { headers: { host: 'nowhere.example.com' } })
  t.equal(byHost.status, 404)
  t.match(byHost.body, 'no revision for host "nowhere.example.com"')
  t.equal((await send(agent, s.url, { headers: route('a') })).status, 200, 'the next request on the pool is served')
})

t.test('the default revision takes requests that route nowhere; routing headers still 404 when unknown', async (t) => {
  const s = await setup(t, { namespace: 'other', name: 'b' })
  const agent = createClient(t)
  const r = await send(agent, s.url, { headers: { host: 'nowhere.example.com' } })
  t.equal(r.body, `pod ${s.ports.b}`)
  t.equal((await send(agent, s.url, { headers: route('nope') })).status, 404)
})

t.test('probes are answered by the activator, and requests during a drain touch it', async (t) => {
  const s = await setup(t)
  const agent = createClient(t)
  const probe = await send(agent, s.url, { headers: { 'k-network-probe': 'activator' } })
  t.equal(probe.status, 200)
  t.equal(probe.body, 'activator')
  t.equal(s.drain.touches, 0)
  s.drain.isDraining = true
  t.equal((await send(agent, s.url, { headers: route('a') })).status, 200, 'still served while draining')
  t.equal(s.drain.touches, 1)
})
