// `sluice activator --source kubernetes` with a kubeconfig, end to end (a child process, the fake API
// server over HTTPS): the CLI resolves KUBECONFIG, starts with the token and CA it names and sends
// User-Agent sluice-activator/<version>; a kubeconfig it cannot honour exits 2 with one line per problem.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { childEnv } from '../helpers/sidecar-fixture.ts'
import { makeCa, makeLeaf, SKIP_WITHOUT_OPENSSL } from '../helpers/test-certs.ts'
import { endpointSlice, knativeRevision, privateLabels } from '../activator/sources/fake-kube-api.ts'
import { startFakeKubeApi } from '../activator/sources/kube-source-fixture.ts'

const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice', import.meta.url))
const ARGS = ['activator', '--source', 'kubernetes', '--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0']

interface Run { code: number | null, stdout: string, stderr: string }

async function tempDir (t: { teardown (fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-cli-kube-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Runs the activator until it exits, or until `ready` matches its stdout (then kills it). */
function run (kubeconfig: string, ready: RegExp | null): Promise<Run> {
  return new Promise<Run>((resolve) => {
    const child = spawn(process.execPath, [SLUICE_BIN, ...ARGS], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv({ KUBECONFIG: kubeconfig, POD_NAME: 'kubeconfig-test' }) })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (ready?.test(stdout) === true) child.kill('SIGTERM')
    })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('exit', (code) => { resolve({ code, stdout, stderr }) })
  })
}

t.test('a kubeconfig with a token file and a CA file (relative paths): synced, with the token, the CA and the User-Agent', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const dir = await tempDir(t)
  const ca = makeCa(dir, 'ca')
  const api = await startFakeKubeApi(t, { tls: makeLeaf(dir, ca, 'apiserver', ['kube.internal']) })
  api.apply('revisions', knativeRevision('default', 'hello-00001', { containerConcurrency: 3 }))
  api.apply('endpointslices', endpointSlice('default', 'hello-00001-private-abc', privateLabels('hello-00001'), [{ ip: '10.0.0.1', ready: true }]))
  api.authorize = (a) => a === 'Bearer from-file'
  await writeFile(join(dir, 'token'), 'from-file\n')
  await writeFile(join(dir, 'ca.pem'), ca.cert)
  const kubeconfig = join(dir, 'config')
  await writeFile(kubeconfig, [
    `clusters: [{name: c, cluster: {server: "${api.url}", certificate-authority: ca.pem, tls-server-name: kube.internal}}]`,
    'users: [{name: u, user: {tokenFile: token}}]',
    'contexts: [{name: x, context: {cluster: c, user: u}}]',
    'current-context: x',
  ].join('\n'))
  const r = await run(kubeconfig, /"kubernetes source synced"/)
  t.match(r.stdout, /"revisions":1,"slices":1,"msg":"kubernetes source synced"/)
  const version = (JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
  t.ok(api.requests.length >= 2)
  t.ok(api.requests.every((q) => q.authorization === 'Bearer from-file' && q.userAgent === `sluice-activator/${version}`), 'every request authenticated, with the User-Agent')
})

t.test('a kubeconfig with what Sluice does not support exits 2 with one line per problem', async (t) => {
  const dir = await tempDir(t)
  const kubeconfig = join(dir, 'config')
  await writeFile(kubeconfig, [
    'clusters: [{name: c, cluster: {server: "https://k8s.example"}}]',
    'users: [{name: u, user: {auth-provider: {name: gcp}}}]',
    'contexts: [{name: x, context: {cluster: c, user: u}}]',
    'current-context: x',
  ].join('\n'))
  const r = await run(kubeconfig, null)
  t.equal(r.code, 2)
  t.match(r.stderr, `kubeconfig: ${kubeconfig}: user "u": auth-provider "gcp" is not supported; use the provider's exec plugin`)
  const missing = await run(join(dir, 'absent'), null)
  t.equal(missing.code, 2)
  t.match(missing.stderr, `kubeconfig: cannot read ${join(dir, 'absent')}: ENOENT`)
})
