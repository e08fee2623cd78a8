import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRevisionsAdminHandler } from '../../src/activator/sources/admin-api.ts'
import { StaticFileSource } from '../../src/activator/sources/static-file.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { createClient, route, send, startActivator, startFakePod, until } from './fixtures.ts'

t.test('the revisions API on the admin port feeds the registry', async (t) => {
  const { activator, url, ports } = await startActivator(t, [], { adminRoutes: (registry) => createRevisionsAdminHandler(registry, silentLogger()) })
  const pod = await startFakePod(t)
  const client = createClient(t)
  const admin = `http://127.0.0.1:${ports.admin}`
  const put = await send(client, admin, { method: 'PUT', path: '/revisions/default/api', body: JSON.stringify({ containerConcurrency: 2, endpoints: [pod.dest], hosts: ['api.local'] }) })
  t.equal(put.status, 200)
  await until(() => activator.registry.lookup('default', 'api')?.readyCount === 1)
  t.equal((await send(client, url, { headers: route('api') })).status, 200)
  t.equal((await send(client, url, { headers: { host: 'api.local' } })).status, 200)
  const list = await send(client, admin, { path: '/revisions' })
  t.match(JSON.parse(list.body), { revisions: [{ namespace: 'default', name: 'api', containerConcurrency: 2 }] })
  const bad = await send(client, admin, { method: 'PUT', path: '/revisions/default/api', body: '{"endpoints": "x"}' })
  t.equal(bad.status, 400)
  t.equal((await send(client, admin, { path: '/other' })).status, 404, 'other admin paths: 404')
  t.equal((await send(client, admin, { method: 'DELETE', path: '/revisions/default/api' })).status, 204)
  t.equal((await send(client, url, { headers: route('api') })).status, 404)
})

t.test('a seed file (--source api --revisions, read once): revisions known when the port opens, then the API changes them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-seed-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const path = join(dir, 'revisions.json')
  writeFileSync(path, JSON.stringify({ revisions: [{ name: 'seeded', containerConcurrency: 1, endpoints: [] }] }))
  const seed = new StaticFileSource({ path, logger: silentLogger(), watch: false })
  const { activator, url, ports } = await startActivator(t, [], { sources: [seed], adminRoutes: (registry) => createRevisionsAdminHandler(registry, silentLogger()) })
  const client = createClient(t)
  // Known before any PUT: a request waits for an endpoint instead of a 404.
  const waiting = send(client, url, { headers: route('seeded'), signal: AbortSignal.timeout(5_000) })
  await until(() => activator.registry.lookup('default', 'seeded')?.throttler.queued === 1, 3_000, 'the request buffered')
  const pod = await startFakePod(t)
  const put = await send(client, `http://127.0.0.1:${ports.admin}`, { method: 'PUT', path: '/revisions/default/seeded', body: JSON.stringify({ containerConcurrency: 1, endpoints: [pod.dest] }) })
  t.equal(put.status, 200, 'the API may change a seeded revision')
  t.equal((await waiting).status, 200)
})
