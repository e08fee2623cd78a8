import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRevisionsAdminHandler, readOnlyReasonFor } from '../../src/activator/sources/admin-api.ts'
import { AdminTokenFile } from '../../src/activator/sources/admin-token-file.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { endpointSlice, knativeRevision, privateLabels } from './sources/fake-kube-api.ts'
import { startFakeKubeApi } from './sources/kube-source-fixture.ts'
import { ACTIVATOR_OPTIONS } from '../../src/config/activator-config.ts'
import { createClient, send, startActivator, type Teardown } from './fixtures.ts'

// The revisions admin API can point a revision's traffic anywhere, so: loopback by default, a bearer
// token for anything wider, and no writes unless revisions come from the API itself.

const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice', import.meta.url))
const BODY = JSON.stringify({ containerConcurrency: 1, endpoints: ['127.0.0.1:1'] })

function tokenFile (t: Teardown, token: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-admin-token-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const path = join(dir, 'token')
  writeFileSync(path, token + '\n')
  return path
}

t.test('with --admin-token-file: no token or a wrong one is 401, the right one 200', async (t) => {
  const path = tokenFile(t, 's3cret-token')
  const auth = new AdminTokenFile({ path, initial: 's3cret-token', logger: silentLogger() })
  const { activator, ports } = await startActivator(t, ['--source', 'api', '--admin-token-file', path], {
    adminRoutes: (registry) => createRevisionsAdminHandler(registry, silentLogger(), { auth }),
  })
  const client = createClient(t)
  const admin = `http://127.0.0.1:${ports.admin}`
  const put = (headers: Record<string, string>): ReturnType<typeof send> => send(client, admin, { method: 'PUT', path: '/revisions/default/hello', body: BODY, headers })

  const none = await put({})
  t.equal(none.status, 401)
  t.equal(none.headers['www-authenticate'], 'Bearer realm="sluice-activator"')
  t.match(JSON.parse(none.body), { code: 'SLUICE_ERR_ADMIN_UNAUTHORIZED', error: /Authorization: Bearer <token>/ })
  const wrong = await put({ authorization: 'Bearer s3cret-tokem' })
  t.equal(wrong.status, 401)
  t.match(JSON.parse(wrong.body), { code: 'SLUICE_ERR_ADMIN_UNAUTHORIZED', error: /does not match/ })
  t.equal((await put({ authorization: 'Basic czNjcmV0LXRva2Vu' })).status, 401, 'another scheme')
  t.equal((await send(client, admin, { path: '/revisions' })).status, 401, 'reads need the token too')
  t.equal(activator.registry.size, 0, 'nothing was written')

  const right = await put({ authorization: 'Bearer s3cret-token' })
  t.equal(right.status, 200)
  t.equal(activator.registry.size, 1)
  t.equal((await send(client, admin, { path: '/revisions', headers: { authorization: 'bearer s3cret-token' } })).status, 200, 'the scheme is case-insensitive')
})

t.test('a rotated token applies at the next re-read, without a restart', async (t) => {
  const path = tokenFile(t, 'first')
  const timers = new ManualTimers(new ManualClock())
  const auth = new AdminTokenFile({ path, initial: 'first', logger: silentLogger(), timers, intervalMs: 10_000 })
  auth.start()
  t.teardown(() => { auth.stop() })
  const { ports } = await startActivator(t, ['--source', 'api'], {
    adminRoutes: (registry) => createRevisionsAdminHandler(registry, silentLogger(), { auth }),
  })
  const client = createClient(t)
  const admin = `http://127.0.0.1:${ports.admin}`
  const list = async (token: string): Promise<number> => (await send(client, admin, { path: '/revisions', headers: { authorization: `Bearer ${token}` } })).status

  writeFileSync(path, 'second\n')
  t.equal(await list('first'), 200, 'the old token holds until the re-read')
  await timers.advance(9_999)
  t.equal(await list('first'), 200)
  await timers.advance(1)
  t.equal(await list('first'), 401, 'old token refused after the re-read')
  t.equal(await list('second'), 200, 'new token accepted')

  rmSync(path)
  await timers.advance(10_000)
  t.equal(await list('second'), 200, 'a vanished file keeps the current token')
  writeFileSync(path, '   \n')
  await timers.advance(10_000)
  t.equal(await list('second'), 200, 'an emptied file keeps the current token')
})

t.test('the admin port listens on loopback by default', async (t) => {
  const { activator, ports } = await startActivator(t, ['--source', 'api'], {
    adminRoutes: (registry) => createRevisionsAdminHandler(registry, silentLogger()),
  })
  t.equal(activator.config.adminHost, '127.0.0.1')
  const client = createClient(t)
  t.equal((await send(client, `http://127.0.0.1:${ports.admin}`, { path: '/revisions' })).status, 200, 'loopback answers')

  // 127.0.0.2 is on lo too (Linux routes all of 127/8 there) but is not the bound address: a wildcard
  // bind would accept it. A non-loopback address of this machine, when it has one, is tried as well.
  const outside = nonLoopbackAddress()
  for (const address of outside === null ? ['127.0.0.2'] : ['127.0.0.2', outside]) {
    const err = await connectError(address, ports.admin)
    t.equal(err, 'ECONNREFUSED', `${address}:${ports.admin} refuses connections`)
  }
})

t.test('with --source kubernetes a PUT or DELETE cannot change a revision (405 SLUICE_ERR_ADMIN_READ_ONLY)', async (t) => {
  const api = await startFakeKubeApi(t)
  api.apply('revisions', knativeRevision('default', 'hello-00001', { containerConcurrency: 3 }))
  api.apply('endpointslices', endpointSlice('default', 'hello-00001-private', privateLabels('hello-00001'), [{ ip: '10.0.0.1' }]))
  // The real CLI: its wiring decides whether writes are possible. Its ports are the OS's (port 0),
  // read from its 'activator listening' line: ports picked here and released could be taken by
  // another test file's server before the child binds them (seen with tap running files at once).
  const h2c = ACTIVATOR_OPTIONS.some((o) => o.flag === 'h2c-port') ? ['--h2c-port', '0'] : []
  const child = spawn(process.execPath, [SLUICE_BIN, 'activator', '--source', 'kubernetes', '--kubernetes-server', api.url,
    '--host', '127.0.0.1', '--port', '0', ...h2c, '--admin-port', '0', '--metrics-port', '0',
    '--drain-seconds', '0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, POD_NAME: 'admin-security-test' } })
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  t.teardown(async () => { child.kill('SIGKILL'); await exited })
  const adminPort = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n').find((l) => l.includes('"activator listening"'))
      if (line !== undefined) resolve((JSON.parse(line) as { ports: { admin: number } }).ports.admin)
    })
    void exited.then(() => { reject(new Error('the activator exited before listening:\n' + out)) })
  })
  const client = createClient(t)
  const admin = `http://127.0.0.1:${adminPort}`
  const before = await firstOk(client, admin, '/revisions/default/hello-00001', exited)
  t.match(JSON.parse(before.body), { name: 'hello-00001', containerConcurrency: 3, endpoints: ['10.0.0.1:8012'] }, 'reads work')

  const put = await send(client, admin, { method: 'PUT', path: '/revisions/default/hello-00001', body: JSON.stringify({ containerConcurrency: 1, endpoints: ['127.0.0.1:1'] }) })
  t.equal(put.status, 405)
  t.equal(put.headers.allow, 'GET, HEAD')
  t.match(JSON.parse(put.body), { code: 'SLUICE_ERR_ADMIN_READ_ONLY', error: /--source kubernetes/ })
  const created = await send(client, admin, { method: 'PUT', path: '/revisions/default/other', body: BODY })
  t.equal(created.status, 405, 'nor add one')
  const del = await send(client, admin, { method: 'DELETE', path: '/revisions/default/hello-00001' })
  t.equal(del.status, 405)
  t.match(JSON.parse(del.body), { code: 'SLUICE_ERR_ADMIN_READ_ONLY' })

  const after = await send(client, admin, { path: '/revisions' })
  t.same(JSON.parse(after.body).revisions.map((r: { name: string, endpoints: string[] }) => [r.name, r.endpoints]), [['hello-00001', ['10.0.0.1:8012']]], 'the cluster\'s revision is unchanged')
})

t.test('the API is writable only with --source api', async (t) => {
  t.equal(readOnlyReasonFor('api'), null)
  t.equal(readOnlyReasonFor('static'), 'revisions come from --source static')
  t.equal(readOnlyReasonFor('kubernetes'), 'revisions come from --source kubernetes')
})

/** GETs `path` until it answers 200 (the child is starting), up to 30 s (a child loading the Kubernetes client on a loaded machine took over 15); fails if the child exits. */
async function firstOk (client: ReturnType<typeof createClient>, base: string, path: string, exited: Promise<void>): Promise<Awaited<ReturnType<typeof send>>> {
  let gone = false
  void exited.then(() => { gone = true })
  const end = performance.now() + 30_000
  for (;;) {
    if (gone) throw new Error('the activator exited')
    try {
      const reply = await send(client, base, { path })
      if (reply.status === 200) return reply
    } catch { /* not listening yet */ }
    if (performance.now() > end) throw new Error(`${base}${path} did not answer 200 within 30 s`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function nonLoopbackAddress (): string | null {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.internal) continue
      if (a.family === 'IPv4') return a.address
    }
  }
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (!a.internal && a.family === 'IPv6' && !a.address.startsWith('fe80:')) return a.address
    }
  }
  return null
}

function connectError (host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 })
    socket.once('connect', () => { socket.destroy(); resolve('connected') })
    socket.once('timeout', () => { socket.destroy(); resolve('timeout') })
    socket.once('error', (err: NodeJS.ErrnoException) => { resolve(err.code ?? err.message) })
  })
}

