import t from 'tap'
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { RevisionSpec } from '../../../src/activator/revision-spec.ts'
import {
  AdminApiSource, createRevisionsAdminHandler, type AdminRequestHandler,
} from '../../../src/activator/sources/admin-api.ts'
import { SluiceError } from '../../../src/shared/errors.ts'
import { silentLogger } from '../../../src/shared/logger.ts'
import { MemorySink } from './memory-sink.ts'

type Teardown = Pick<typeof t, 'teardown'>

interface Reply { status: number, headers: IncomingMessage['headers'], text: string, json: unknown }

interface Send {
  method?: string
  body?: string | Buffer
  /** Send the body chunked (no content-length). */
  chunked?: boolean
  headers?: Record<string, string>
}

function call (port: number, path: string, o: Send = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...o.headers }
    if (o.body !== undefined && o.chunked !== true) headers['content-length'] = Buffer.byteLength(o.body)
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers, timeout: 3000 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: unknown = null
        try { json = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error('request timed out')) })
    req.on('error', reject)
    if (o.body !== undefined) req.write(o.body)
    req.end()
  })
}

async function serve (t: Teardown, handler: AdminRequestHandler): Promise<number> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (handler(req, res)) return
    res.writeHead(418, { 'content-type': 'text/plain' })
    res.end('admin server fallback\n')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => { resolve() })
  }))
  const address: AddressInfo | string | null = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

async function setup (t: Teardown, opts: { maxBodyBytes?: number } = {}): Promise<{ port: number, sink: MemorySink }> {
  const sink = new MemorySink()
  const port = await serve(t, createRevisionsAdminHandler(sink, silentLogger(), opts))
  return { port, sink }
}

function put (port: number, path: string, body: unknown): Promise<Reply> {
  return call(port, path, { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
}

const HELLO: RevisionSpec = {
  namespace: 'default',
  name: 'hello',
  containerConcurrency: 2,
  endpoints: ['127.0.0.1:8012'],
  hosts: ['hello.local'],
  timeoutSeconds: 300,
  lbPolicy: null,
}

t.test('PUT stores the revision, GET returns it, the list shows it', async (t) => {
  const { port, sink } = await setup(t)
  t.same((await call(port, '/revisions')).json, { revisions: [] })

  const r = await put(port, '/revisions/default/hello', { containerConcurrency: 2, endpoints: ['127.0.0.1:8012'], hosts: ['hello.local'], timeoutSeconds: 300 })
  t.equal(r.status, 200)
  t.match(r.headers['content-type'], /^application\/json/)
  t.same(r.json, HELLO)
  t.same(sink.get('default/hello'), HELLO)

  await put(port, '/revisions/apps/zeta', { endpoints: [] })
  await put(port, '/revisions/apps/alpha', { endpoints: ['[::1]:8012'] })
  const list = await call(port, '/revisions')
  t.equal(list.status, 200)
  t.same(list.json, {
    revisions: [
      { namespace: 'apps', name: 'alpha', containerConcurrency: 0, endpoints: ['[::1]:8012'], hosts: [], timeoutSeconds: null, lbPolicy: null },
      { namespace: 'apps', name: 'zeta', containerConcurrency: 0, endpoints: [], hosts: [], timeoutSeconds: null, lbPolicy: null },
      HELLO,
    ],
  }, 'sorted by namespace/name')

  const one = await call(port, '/revisions/default/hello')
  t.equal(one.status, 200)
  t.same(one.json, HELLO)
  t.same((await call(port, '/revisions/default/hello?pretty=1')).json, HELLO, 'query string ignored')
})

t.test('a PUT replaces the whole revision', async (t) => {
  const { port, sink } = await setup(t)
  await put(port, '/revisions/default/hello', { containerConcurrency: 2, endpoints: ['127.0.0.1:8012'], hosts: ['hello.local'], timeoutSeconds: 300, lbPolicy: 'first-available' })
  const r = await put(port, '/revisions/default/hello', { endpoints: ['127.0.0.1:8013'] })
  t.equal(r.status, 200)
  t.same(sink.get('default/hello'), { namespace: 'default', name: 'hello', containerConcurrency: 0, endpoints: ['127.0.0.1:8013'], hosts: [], timeoutSeconds: null, lbPolicy: null })
})

t.test('the body may repeat the name and namespace, not contradict them', async (t) => {
  const { port } = await setup(t)
  t.equal((await put(port, '/revisions/default/hello', { name: 'hello', namespace: 'default', endpoints: [] })).status, 200)
  const r = await put(port, '/revisions/default/hello', { name: 'other', namespace: 'ns', endpoints: [] })
  t.equal(r.status, 400)
  t.same(r.json, {
    error: 'namespace: "ns" does not match the path ("default"); name: "other" does not match the path ("hello")',
    code: 'SLUICE_ERR_ADMIN_INVALID_REVISION',
    problems: ['namespace: "ns" does not match the path ("default")', 'name: "other" does not match the path ("hello")'],
  })
})

t.test('path segments are percent-decoded', async (t) => {
  const { port, sink } = await setup(t)
  t.equal((await put(port, '/revisions/default/%68ello', { endpoints: [] })).status, 200)
  t.same(sink.keys(), ['default/hello'])
})

t.test('DELETE removes: 204, then 404', async (t) => {
  const { port, sink } = await setup(t)
  await put(port, '/revisions/default/hello', { endpoints: [] })
  const r = await call(port, '/revisions/default/hello', { method: 'DELETE' })
  t.equal(r.status, 204)
  t.equal(r.text, '')
  t.same(sink.keys(), [])
  const again = await call(port, '/revisions/default/hello', { method: 'DELETE' })
  t.equal(again.status, 404)
  t.same(again.json, { error: 'revision not found: default/hello', code: 'SLUICE_ERR_ACTIVATOR_REVISION_NOT_FOUND' })
})

t.test('GET of an unknown revision is 404', async (t) => {
  const { port } = await setup(t)
  const r = await call(port, '/revisions/default/nope')
  t.equal(r.status, 404)
  t.same(r.json, { error: 'revision not found: default/nope', code: 'SLUICE_ERR_ACTIVATOR_REVISION_NOT_FOUND' })
})

t.test('HEAD answers like GET without a body', async (t) => {
  const { port } = await setup(t)
  const r = await call(port, '/revisions', { method: 'HEAD' })
  t.equal(r.status, 200)
  t.equal(r.text, '')
})

t.test('bad JSON is a 400 naming the JSON error', async (t) => {
  const { port, sink } = await setup(t)
  for (const body of ['{"endpoints": [', '', 'endpoints=1']) {
    const r = await call(port, '/revisions/default/hello', { method: 'PUT', body })
    t.equal(r.status, 400, JSON.stringify(body))
    t.match(r.json, { error: /^invalid JSON: /, code: 'SLUICE_ERR_ADMIN_INVALID_JSON' })
  }
  t.equal(sink.calls.length, 0)
})

t.test('bad fields are a 400 naming each field', async (t) => {
  const { port, sink } = await setup(t)
  const cases: Array<{ path?: string, body: unknown, problems: string[] }> = [
    { body: [], problems: ['body: expected a JSON object'] },
    { body: null, problems: ['body: expected a JSON object'] },
    { body: {}, problems: ['endpoints: required (a list of "host:port" sidecar addresses; [] when scaled to zero)'] },
    { body: { endpoints: ['127.0.0.1:8012', 'foo'] }, problems: ['endpoints[1]: "foo" is not host:port'] },
    {
      body: { endpoints: [], containerConcurrency: -1, timeoutSeconds: 0, hosts: ['a b'], lbPolicy: 'x', extra: 1 },
      problems: [
        'extra: unknown field',
        'containerConcurrency: must be an integer >= 0 (at most 2147483647), got -1',
        'hosts[0]: "a b" is not a host name (no scheme, port or path)',
        'timeoutSeconds: must be an integer >= 1 (at most 2147483), got 0',
        'lbPolicy: must be one of random-choice-2, first-available, round-robin, got "x"',
      ],
    },
    {
      path: '/revisions/Default/hello_1',
      body: { endpoints: [] },
      problems: [
        `name: must be a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit), got "hello_1"`,
        `namespace: must be a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit), got "Default"`,
      ],
    },
  ]
  for (const c of cases) {
    const r = await put(port, c.path ?? '/revisions/default/hello', c.body)
    t.equal(r.status, 400, JSON.stringify(c.body))
    if (c.body === null || Array.isArray(c.body)) {
      t.same(r.json, { error: c.problems[0], code: 'SLUICE_ERR_ADMIN_INVALID_REVISION' })
    } else {
      t.same(r.json, { error: c.problems.join('; '), code: 'SLUICE_ERR_ADMIN_INVALID_REVISION', problems: c.problems }, JSON.stringify(c.body))
    }
  }
  t.equal(sink.calls.length, 0)
})

t.test('malformed names in GET/DELETE paths are a 400', async (t) => {
  const { port } = await setup(t)
  for (const method of ['GET', 'DELETE']) {
    const r = await call(port, '/revisions/default/Bad%zz', { method })
    t.equal(r.status, 400, method)
    t.match(r.json, { code: 'SLUICE_ERR_ADMIN_INVALID_REVISION', problems: [/^name: must be a DNS-1123 label.*got "Bad%zz"$/] })
  }
})

t.test('a host routed to another revision is a 409', async (t) => {
  const { port, sink } = await setup(t)
  await put(port, '/revisions/default/a', { endpoints: [], hosts: ['x.local'] })
  const r = await put(port, '/revisions/default/b', { endpoints: [], hosts: ['y.local', 'X.local'] })
  t.equal(r.status, 409)
  t.same(r.json, {
    error: 'hosts[1]: "x.local" is already routed to default/a',
    code: 'SLUICE_ERR_ADMIN_HOST_CONFLICT',
    problems: ['hosts[1]: "x.local" is already routed to default/a'],
  })
  t.equal((await put(port, '/revisions/default/a', { endpoints: [], hosts: ['x.local'] })).status, 200, 'a revision keeps its own hosts')
  t.same(sink.keys(), ['default/a'])
})

t.test('bodies over the limit are a 413', async (t) => {
  const { port, sink } = await setup(t, { maxBodyBytes: 64 })
  const big = JSON.stringify({ endpoints: [], hosts: Array.from({ length: 20 }, (_, i) => `host-${i}.local`) })
  const declared = await call(port, '/revisions/default/hello', { method: 'PUT', body: big })
  t.equal(declared.status, 413)
  t.same(declared.json, { error: 'request body larger than 64 bytes', code: 'SLUICE_ERR_ADMIN_BODY_TOO_LARGE' })
  t.equal(declared.headers.connection, 'close')
  const streamed = await call(port, '/revisions/default/hello', { method: 'PUT', body: big, chunked: true })
  t.equal(streamed.status, 413, 'chunked body without content-length')
  t.equal(sink.calls.length, 0)
  t.equal((await put(port, '/revisions/default/hello', { endpoints: [] })).status, 200, 'a small body still works')
})

t.test('wrong methods are a 405 with Allow', async (t) => {
  const { port } = await setup(t)
  const list = await call(port, '/revisions', { method: 'POST', body: '{}' })
  t.equal(list.status, 405)
  t.equal(list.headers.allow, 'GET, HEAD')
  t.same(list.json, { error: 'method POST not allowed; allowed: GET, HEAD', code: 'SLUICE_ERR_ADMIN_METHOD_NOT_ALLOWED' })
  for (const method of ['POST', 'PATCH']) {
    const item = await call(port, '/revisions/default/hello', { method, body: '{}' })
    t.equal(item.status, 405, method)
    t.equal(item.headers.allow, 'GET, HEAD, PUT, DELETE')
    t.equal(item.json !== null && typeof item.json === 'object' && 'code' in item.json ? item.json.code : null, 'SLUICE_ERR_ADMIN_METHOD_NOT_ALLOWED')
  }
})

t.test('other paths under /revisions are a 404; other paths are left to the caller', async (t) => {
  const { port } = await setup(t)
  for (const path of ['/revisions/', '/revisions/default', '/revisions/default/', '/revisions/a/b/c', '/revisions//b']) {
    const r = await call(port, path)
    t.equal(r.status, 404, path)
    t.match(r.json, { code: 'SLUICE_ERR_ADMIN_ROUTE_NOT_FOUND', error: /use \/revisions or \/revisions\/\{namespace\}\/\{name\}/ }, path)
  }
  for (const path of ['/', '/healthz', '/revisionsx', '/revision/default/a']) {
    const r = await call(port, path)
    t.equal(r.status, 418, path)
    t.equal(r.text, 'admin server fallback\n')
  }
})

t.test('sink failures map to the error status or 500', async (t) => {
  const sink = new MemorySink()
  let failure: Error = new Error('boom')
  const throwing = {
    upsert (): void { throw failure },
    remove (): void { throw failure },
    list: () => sink.list(),
  }
  const port = await serve(t, createRevisionsAdminHandler(throwing, silentLogger()))
  const r = await put(port, '/revisions/default/a', { endpoints: [] })
  t.equal(r.status, 500)
  t.same(r.json, { error: 'internal error', code: 'SLUICE_ERR_ADMIN_INTERNAL' })
  failure = new SluiceError('SLUICE_ERR_TEST_REJECTED', 'rejected by the registry', 422)
  const mapped = await put(port, '/revisions/default/a', { endpoints: [] })
  t.equal(mapped.status, 422)
  t.same(mapped.json, { error: 'rejected by the registry', code: 'SLUICE_ERR_TEST_REJECTED' })
  sink.upsert(HELLO)
  const del = await call(port, '/revisions/default/hello', { method: 'DELETE' })
  t.equal(del.status, 422)
})

t.test('AdminApiSource serves only between start() and close()', async (t) => {
  const source = new AdminApiSource(silentLogger(), { maxBodyBytes: 1024 })
  const port = await serve(t, source.handle)
  const before = await call(port, '/revisions')
  t.equal(before.status, 503)
  t.same(before.json, { error: 'revisions API is not available (starting or shutting down)', code: 'SLUICE_ERR_ADMIN_NOT_STARTED' })
  t.equal((await call(port, '/other')).status, 418)

  const sink = new MemorySink()
  await source.start(sink)
  t.equal((await put(port, '/revisions/default/hello', { endpoints: [] })).status, 200)
  t.same(sink.keys(), ['default/hello'])

  await source.close()
  t.equal((await call(port, '/revisions/default/hello')).status, 503)
  t.equal((await call(port, '/other')).status, 418)
})
