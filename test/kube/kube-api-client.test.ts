// KubeApiClient over real sockets against the fake API server: HTTPS verified with a CA made by openssl
// (tls-server-name, a wrong CA, mutual TLS), each credential kind as the API server sees it (bearer
// token, rotated token file, basic auth, exec plugin token and client certificate, a 401 re-running the
// plugin), the headers every request carries, the server URL's path prefix, and error answers.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { KubeApiClient } from '../../src/kube/kube-api-client.ts'
import { EMPTY_REST_CONFIG, inClusterConfig, type KubeRestConfig } from '../../src/kube/kube-config.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { KubeApiError, KubeCredentialsError } from '../../src/shared/errors.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { makeCa, makeLeaf, SKIP_WITHOUT_OPENSSL, type Pair } from '../helpers/test-certs.ts'
import { knativeRevision, type FakeKubeApi } from '../activator/sources/fake-kube-api.ts'
import { startFakeKubeApi } from '../activator/sources/kube-source-fixture.ts'

const PLUGIN = join(dirname(fileURLToPath(import.meta.url)), 'exec-credential-plugin.mjs')
const REVISIONS_PATH = '/apis/serving.knative.dev/v1/revisions'

interface Teardown { teardown (fn: () => unknown): void }

interface Pki { ca: Pair, server: Pair, otherCa: Pair, client: Pair, clientCa: Pair }

let pki: Pki | null = null
let work = ''
/** One CA, a server leaf for 127.0.0.1 and kube.internal, a client CA and a client leaf; made once. */
async function certs (): Promise<Pki> {
  if (pki !== null) return pki
  work = await mkdtemp(join(tmpdir(), 'sluice-kube-tls-'))
  const ca = makeCa(work, 'kube-ca')
  const clientCa = makeCa(work, 'kube-client-ca')
  pki = {
    ca,
    server: makeLeaf(work, ca, 'kube-apiserver', ['kube.internal']),
    otherCa: makeCa(work, 'other-ca'),
    clientCa,
    client: makeLeaf(work, clientCa, 'sluice-activator', ['sluice-activator']),
  }
  return pki
}
t.teardown(() => (work === '' ? undefined : rm(work, { recursive: true, force: true })))

function client (t: Teardown, config: KubeRestConfig, opts: { clock?: ManualClock, execEnv?: Record<string, string | undefined> } = {}): KubeApiClient {
  const c = new KubeApiClient({ config, logger: silentLogger(), userAgent: 'sluice-activator/9.9.9', clock: opts.clock, execEnv: opts.execEnv })
  t.teardown(() => { c.close() })
  return c
}

async function list (c: KubeApiClient): Promise<unknown> {
  return await c.getJson(REVISIONS_PATH, new URLSearchParams({ limit: '10' }), new AbortController().signal)
}

async function failure (p: Promise<unknown>): Promise<KubeApiError | KubeCredentialsError | null> {
  const err = await p.then(() => null, (e: unknown) => e)
  return err instanceof KubeApiError || err instanceof KubeCredentialsError ? err : null
}

async function httpsApi (t: Teardown, clientCa = false): Promise<FakeKubeApi> {
  const p = await certs()
  const api = await startFakeKubeApi(t, { tls: { cert: p.server.cert, key: p.server.key, clientCa: clientCa ? p.clientCa.cert : undefined } })
  api.apply('revisions', knativeRevision('default', 'a'))
  return api
}

t.test('HTTPS verified against the configured CA; Accept, User-Agent and the bearer token sent', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const api = await httpsApi(t)
  api.authorize = (a) => a === 'Bearer static-token'
  const c = client(t, { ...EMPTY_REST_CONFIG, host: api.url, caData: (await certs()).ca.cert.toString(), bearerToken: 'static-token' })
  t.match(await list(c), { kind: 'RevisionList', items: [{ metadata: { name: 'a' } }] })
  t.match(api.requests.at(-1), { path: REVISIONS_PATH, authorization: 'Bearer static-token', userAgent: 'sluice-activator/9.9.9', accept: 'application/json' })
})

t.test('tls-server-name: the name the certificate is checked against', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const api = await httpsApi(t)
  const ca = (await certs()).ca.cert.toString()
  t.match(await list(client(t, { ...EMPTY_REST_CONFIG, host: api.url, caData: ca, serverName: 'kube.internal' })), { items: [{}] })
  const err = await failure(list(client(t, { ...EMPTY_REST_CONFIG, host: api.url, caData: ca, serverName: 'wrong.example' })))
  t.match(err?.message, /^cannot reach https:\/\/127\.0\.0\.1:\d+: the API server's certificate does not verify against the configured CA or tls-server-name \(ERR_TLS_CERT_ALTNAME_INVALID: .*wrong\.example.*\)$/)
})

t.test('a wrong CA fails with a clear error; insecure-skip-tls-verify connects anyway', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const api = await httpsApi(t)
  const err = await failure(list(client(t, { ...EMPTY_REST_CONFIG, host: api.url, caData: (await certs()).otherCa.cert.toString() })))
  t.ok(err instanceof KubeApiError)
  t.equal(err instanceof KubeApiError ? err.status : 0, null, 'no answer')
  t.match(err?.message, /^cannot reach https:\/\/127\.0\.0\.1:\d+: the API server's certificate does not verify against the configured CA or tls-server-name \(UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate\)$/)
  t.match(await list(client(t, { ...EMPTY_REST_CONFIG, host: api.url, insecure: true })), { items: [{}] })
})

t.test('mutual TLS: the client certificate is presented; without one the server refuses', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const api = await httpsApi(t, true)
  const p = await certs()
  const base = { ...EMPTY_REST_CONFIG, host: api.url, caData: p.ca.cert.toString() }
  t.match(await list(client(t, { ...base, certData: p.client.cert.toString(), keyData: p.client.key.toString() })), { items: [{}] })
  t.equal(api.requests.at(-1)?.clientCn, 'sluice-activator')
  const err = await failure(list(client(t, base)))
  t.ok(err instanceof KubeApiError && err.status === null, `refused: ${err?.message}`)
})

t.test('basic auth; and no credentials at all over plain http (as client-go)', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const api = await httpsApi(t)
  await list(client(t, { ...EMPTY_REST_CONFIG, host: api.url, insecure: true, username: 'admin', password: 's3:cret' }))
  t.equal(api.requests.at(-1)?.authorization, 'Basic ' + Buffer.from('admin:s3:cret').toString('base64'))
  const plain = await startFakeKubeApi(t)
  await list(client(t, { ...EMPTY_REST_CONFIG, host: plain.url, bearerToken: 'never-sent' }))
  t.equal(plain.requests.at(-1)?.authorization, null)
})

t.test('in cluster: the service account CA verifies, and a rotated token is sent after the refresh period of the injected clock', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const api = await httpsApi(t)
  const dir = await mkdtemp(join(tmpdir(), 'sluice-sa-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const tokenFile = join(dir, 'token')
  await writeFile(tokenFile, 'sa-token-1\n')
  await writeFile(join(dir, 'ca.crt'), (await certs()).ca.cert)
  const clock = new ManualClock()
  const config = inClusterConfig('127.0.0.1', String(api.port), dir, silentLogger())
  t.equal(config.host, api.url)
  const c = client(t, config, { clock })
  await list(c)
  t.equal(api.requests.at(-1)?.authorization, 'Bearer sa-token-1', 'trimmed')
  await writeFile(tokenFile, 'sa-token-2\n')
  clock.advance(59_000)
  await list(c)
  t.equal(api.requests.at(-1)?.authorization, 'Bearer sa-token-1', 'not re-read within the minute')
  clock.advance(1_000)
  await list(c)
  t.equal(api.requests.at(-1)?.authorization, 'Bearer sa-token-2', 'the rotated token')
})

t.test('exec plugin: its token is sent and cached; a 401 runs it again and resends once', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const api = await httpsApi(t)
  const dir = await mkdtemp(join(tmpdir(), 'sluice-exec-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const exec = { command: process.execPath, args: [PLUGIN, dir, 'token'], env: [{ name: 'TOKEN_PREFIX', value: 'tok' }], apiVersion: 'client.authentication.k8s.io/v1', interactiveMode: 'Never', provideClusterInfo: false }
  const c = client(t, { ...EMPTY_REST_CONFIG, host: api.url, insecure: true, exec })
  await list(c)
  await list(c)
  t.same(api.requests.map((r) => r.authorization), ['Bearer tok-1', 'Bearer tok-1'], 'cached: one run')
  api.authorize = (a) => a === 'Bearer tok-2'
  await list(c)
  t.same(api.requests.slice(2).map((r) => r.authorization), ['Bearer tok-1', 'Bearer tok-2'], '401, then the fresh token')
  t.equal(c.execPlugin?.runs, 2)
  api.authorize = () => false
  const err = await failure(list(c))
  t.equal(err instanceof KubeApiError ? err.status : 0, 401, 'a second 401 is the answer')
  t.match(err?.message, 'HTTP 401: Unauthorized')
  t.equal(c.execPlugin?.runs, 3, 'one re-run per request, not a loop')
})

t.test('exec plugin beside a token, basic auth or a client certificate: not run at all, as client-go\'s UpdateTransportConfig', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const api = await httpsApi(t)
  // A plugin that is not there: running it would fail every request.
  const exec = { command: '/nonexistent/plugin', args: [], env: [], apiVersion: 'client.authentication.k8s.io/v1', interactiveMode: 'Never', provideClusterInfo: false }
  const withToken = client(t, { ...EMPTY_REST_CONFIG, host: api.url, insecure: true, bearerToken: 'static', exec })
  t.equal(withToken.execPlugin, null)
  await list(withToken)
  t.same(api.requests.map((r) => r.authorization), ['Bearer static'], 'the static token is sent')
  t.equal(client(t, { ...EMPTY_REST_CONFIG, host: api.url, insecure: true, username: 'u', exec }).execPlugin, null, 'basic auth')
  t.equal(client(t, { ...EMPTY_REST_CONFIG, host: api.url, insecure: true, bearerTokenFile: '/var/run/token', exec }).execPlugin, null, 'a token file')
  t.equal(client(t, { ...EMPTY_REST_CONFIG, host: api.url, insecure: true, certData: 'C', keyData: 'K', exec }).execPlugin, null, 'a client certificate')
  t.not(client(t, { ...EMPTY_REST_CONFIG, host: api.url, insecure: true, certData: 'C', exec }).execPlugin, null, 'a certificate without a key is not cert auth')
})

t.test('exec plugin: a client certificate for mutual TLS; a failing plugin fails the request', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const api = await httpsApi(t, true)
  const p = await certs()
  const dir = await mkdtemp(join(tmpdir(), 'sluice-exec-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'client.crt'), p.client.cert)
  await writeFile(join(dir, 'client.key'), p.client.key)
  const exec = { command: process.execPath, args: [PLUGIN, dir, 'cert'], env: [], apiVersion: 'client.authentication.k8s.io/v1', interactiveMode: 'Never', provideClusterInfo: false }
  const c = client(t, { ...EMPTY_REST_CONFIG, host: api.url, caData: p.ca.cert.toString(), exec })
  await list(c)
  t.equal(api.requests.at(-1)?.clientCn, 'sluice-activator')
  t.equal(api.requests.at(-1)?.authorization, null, 'no token')
  const failing = client(t, { ...EMPTY_REST_CONFIG, host: api.url, caData: p.ca.cert.toString(), exec: { ...exec, args: [PLUGIN, dir, 'fail'] } })
  const err = await failure(list(failing))
  t.ok(err instanceof KubeCredentialsError)
  t.match(err?.message, 'exit status 3: error: You must be logged in to the server')
})

t.test('a server URL with a path prefixes every request; error answers carry the Status message', async (t) => {
  const seen: string[] = []
  const server = createServer((req, res) => {
    seen.push(req.url ?? '')
    if (req.url?.includes('status') === true) {
      res.writeHead(403, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ kind: 'Status', code: 403, message: 'revisions is forbidden: User "x" cannot list' }))
    } else if (req.url?.includes('plain') === true) {
      res.writeHead(502)
      res.end('<html>bad gateway</html>')
    } else {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(req.url?.includes('garbage') === true ? '{"items": [' : '{"items":[],"metadata":{}}')
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const c = client(t, { ...EMPTY_REST_CONFIG, host: `http://127.0.0.1:${port}/k8s/proxy/` })
  const signal = new AbortController().signal
  t.same(await c.getJson('/api/v1/services', new URLSearchParams({ limit: '5' }), signal), { items: [], metadata: {} })
  t.equal(seen[0], '/k8s/proxy/api/v1/services?limit=5')
  const cases: Array<[string, number, string]> = [
    ['/status', 403, 'HTTP 403: revisions is forbidden: User "x" cannot list'],
    ['/plain', 502, 'HTTP 502'],
    ['/garbage', 200, 'GET /garbage: the answer is not JSON'],
  ]
  for (const [path, status, message] of cases) {
    const err = await failure(c.getJson(path, new URLSearchParams(), signal))
    t.equal(err instanceof KubeApiError ? err.status : 0, status, path)
    t.equal(err?.message, message)
  }
  const refused = client(t, { ...EMPTY_REST_CONFIG, host: 'http://127.0.0.1:1' })
  t.match((await failure(list(refused)))?.message, /^cannot reach http:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/)
})

t.test('a list in flight is aborted by its signal', async (t) => {
  const server = createServer(() => { /* never answers */ })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); return new Promise((resolve) => server.close(resolve)) })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const c = client(t, { ...EMPTY_REST_CONFIG, host: `http://127.0.0.1:${port}` })
  const ac = new AbortController()
  const pending = c.getJson('/api/v1/services', new URLSearchParams(), ac.signal).then(() => null, (e: unknown) => e)
  ac.abort(new Error('closing'))
  t.match(await pending, { message: 'closing' })
  t.match(await c.getJson('/api/v1/services', new URLSearchParams(), ac.signal).then(() => null, (e: unknown) => e), { message: 'closing' }, 'an aborted signal sends nothing')
})

t.test('a list unanswered past its timeout, and a watch silent past its idle timeout, fail with KubeApiError', async (t) => {
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/watch') === true) { res.writeHead(200); res.flushHeaders() } // headers, then silence
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); return new Promise((resolve) => server.close(resolve)) })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const c = new KubeApiClient({ config: { ...EMPTY_REST_CONFIG, host: `http://127.0.0.1:${port}` }, logger: silentLogger(), listTimeoutMs: 30 })
  t.teardown(() => { c.close() })
  const signal = new AbortController().signal
  const listErr = await failure(c.getJson('/list', new URLSearchParams(), signal))
  t.match(listErr?.message, `GET /list: no answer from http://127.0.0.1:${port} within 30 ms`)
  const watchErr = await failure(c.watch('/watch', new URLSearchParams(), { handler: { onWatchEvent () {} }, signal, idleTimeoutMs: 80 }))
  t.match(watchErr?.message, `GET /watch: no answer from http://127.0.0.1:${port} within 80 ms`, 'after the head: the idle timeout')
  // A server that accepts a watch and never answers its head: the list timeout, not the (long) idle one.
  const headless = await failure(c.watch('/silent', new URLSearchParams(), { handler: { onWatchEvent () {} }, signal, idleTimeoutMs: 600_000 }))
  t.match(headless?.message, `GET /silent: no answer from http://127.0.0.1:${port} within 30 ms`, 'before the head: the list timeout')
})

t.test('a watch aborted from its own handler, as its response completes or stays open, ends quietly', async (t) => {
  // Regression: with http.request's `signal`, the socket was destroyed with an AbortError while it had
  // no 'error' listener (between the response's end and the agent): an uncaught exception.
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write(JSON.stringify({ type: 'ERROR', object: { code: 410 } }) + '\n')
    if (req.url === '/end') res.end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); return new Promise((resolve) => server.close(resolve)) })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const c = client(t, { ...EMPTY_REST_CONFIG, host: `http://127.0.0.1:${port}` })
  let aborted = 0
  for (let i = 0; i < 200; i++) {
    const ac = new AbortController()
    const handler = { onWatchEvent (): void { ac.abort(new Error('stop')) } }
    await c.watch(i % 2 === 0 ? '/end' : '/open', new URLSearchParams(), { handler, signal: ac.signal, idleTimeoutMs: 10_000 }).catch((err: unknown) => {
      if (err instanceof Error && err.message === 'stop') aborted++
    })
  }
  t.ok(aborted >= 100, `${aborted} of 200 ended with the abort reason (the rest ended first)`)
})
