import t from 'tap'
import { createRevisionsAdminHandler } from '../../src/activator/sources/admin-api.ts'
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
