// The exec credential plugin runs as client-go runs it (a real child process: exec-credential-plugin.mjs):
// env and KUBERNETES_EXEC_INFO given, the answer cached until its expirationTimestamp on the injected
// clock, one run shared by concurrent callers, and every way a plugin can fail is a KubeCredentialsError.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { KubeExecConfig } from '../../src/kube/kube-config.ts'
import { ExecCredentialPlugin, parseExecCredential } from '../../src/kube/kube-exec-credential.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { KubeCredentialsError } from '../../src/shared/errors.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { ManualTimers } from '../../src/shared/timers.ts'

const PLUGIN = join(dirname(fileURLToPath(import.meta.url)), 'exec-credential-plugin.mjs')

interface Teardown { teardown (fn: () => unknown): void }

async function stateDir (t: Teardown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-exec-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

function execConfig (dir: string, mode: string, over: Partial<KubeExecConfig> = {}): KubeExecConfig {
  return {
    command: process.execPath,
    args: [PLUGIN, dir, mode],
    env: [{ name: 'TOKEN_PREFIX', value: 'cfg' }],
    apiVersion: 'client.authentication.k8s.io/v1',
    interactiveMode: 'Never',
    provideClusterInfo: false,
    ...over,
  }
}

const CLUSTER = { host: 'https://10.96.0.1:443', caData: 'CA PEM', insecure: false, serverName: 'kubernetes.default.svc' }

function plugin (exec: KubeExecConfig, clock = new ManualClock(), timers = new ManualTimers(clock)): ExecCredentialPlugin {
  return new ExecCredentialPlugin({ exec, cluster: CLUSTER, baseEnv: { PATH: process.env.PATH, BASE_VAR: 'base', TOKEN_PREFIX: 'overridden' }, logger: silentLogger(), clock, timers })
}

t.test('runs the plugin with its args, the base env plus its own, and KUBERNETES_EXEC_INFO', async (t) => {
  const dir = await stateDir(t)
  const p = plugin(execConfig(dir, 'token', { provideClusterInfo: true }))
  const c = await p.credential()
  t.same(c, { token: 'cfg-1', certData: '', keyData: '', expiresAtMs: null }, 'the config env wins over the base env')
  const run = JSON.parse(await readFile(join(dir, 'run-1.json'), 'utf8'))
  t.same(run, {
    baseVar: 'base',
    argv: [dir, 'token'],
    execInfo: {
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      spec: {
        interactive: false,
        cluster: { server: CLUSTER.host, 'tls-server-name': 'kubernetes.default.svc', 'certificate-authority-data': Buffer.from('CA PEM').toString('base64') },
      },
    },
  })
  t.equal(await p.credential(), c, 'no expiry: cached')
  t.equal(p.runs, 1)
})

t.test('v1beta1, and no cluster in KUBERNETES_EXEC_INFO without provideClusterInfo', async (t) => {
  const dir = await stateDir(t)
  const p = plugin(execConfig(dir, 'beta', { apiVersion: 'client.authentication.k8s.io/v1beta1' }))
  t.equal((await p.credential()).token, 'cfg-1')
  const run = JSON.parse(await readFile(join(dir, 'run-1.json'), 'utf8'))
  t.same(run.execInfo, { apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', spec: { interactive: false } })
})

t.test('cached until expirationTimestamp on the clock\'s wall time; concurrent callers share one run', async (t) => {
  const dir = await stateDir(t)
  const clock = new ManualClock(0, Date.parse('2026-12-06T10:00:00Z'))
  await writeFile(join(dir, 'expiry'), '2026-12-06T10:05:00Z')
  const p = plugin(execConfig(dir, 'token'), clock)
  const [a, b] = await Promise.all([p.credential(), p.credential()])
  t.equal(a, b)
  t.equal(p.runs, 1, 'one run for both')
  t.equal(a.expiresAtMs, Date.parse('2026-12-06T10:05:00Z'))
  clock.advance(5 * 60_000 - 1)
  t.equal((await p.credential()).token, 'cfg-1', 'still valid a millisecond before')
  clock.advance(1)
  t.equal((await p.credential()).token, 'cfg-2', 'run again at expiry')
})

t.test('invalidate(stale) drops that credential only', async (t) => {
  const dir = await stateDir(t)
  const p = plugin(execConfig(dir, 'token'))
  const first = await p.credential()
  p.invalidate({ ...first })
  t.equal(await p.credential(), first, 'another object: kept')
  p.invalidate(first)
  t.equal((await p.credential()).token, 'cfg-2')
})

t.test('a client certificate and key instead of a token', async (t) => {
  const dir = await stateDir(t)
  await writeFile(join(dir, 'client.crt'), 'CERT')
  await writeFile(join(dir, 'client.key'), 'KEY')
  t.same(await plugin(execConfig(dir, 'cert')).credential(), { token: '', certData: 'CERT', keyData: 'KEY', expiresAtMs: null })
})

t.test('failures: exit status with stderr, garbage, a command that is not there, a hang killed at the timeout', async (t) => {
  const dir = await stateDir(t)
  const failure = async (p: ExecCredentialPlugin | Promise<unknown>): Promise<string> => {
    const err = await (p instanceof ExecCredentialPlugin ? p.credential() : p).then(() => null, (e: unknown) => e)
    t.ok(err instanceof KubeCredentialsError, 'a KubeCredentialsError')
    t.equal(err instanceof KubeCredentialsError ? err.code : '', 'SLUICE_ERR_KUBE_CREDENTIALS')
    return err instanceof Error ? err.message : ''
  }
  t.equal(await failure(plugin(execConfig(dir, 'fail'))), `kubernetes exec plugin ${process.execPath}: exit status 3: error: You must be logged in to the server`)
  t.equal(await failure(plugin(execConfig(dir, 'garbage'))), `kubernetes exec plugin ${process.execPath}: its output is not an ExecCredential (not JSON)`)
  t.match(await failure(plugin(execConfig(dir, 'token', { command: join(dir, 'no-such-plugin') }))), `kubernetes exec plugin ${join(dir, 'no-such-plugin')}: cannot run it: spawn`)
  const wrong = plugin(execConfig(dir, 'token', { apiVersion: 'client.authentication.k8s.io/v1beta1' }))
  t.equal(await failure(wrong), `kubernetes exec plugin ${process.execPath}: it answered apiVersion client.authentication.k8s.io/v1, the kubeconfig asks for client.authentication.k8s.io/v1beta1`)

  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const hung = plugin(execConfig(dir, 'hang'), clock, timers).credential()
  await timers.advance(60_000)
  t.equal(await failure(hung), `kubernetes exec plugin ${process.execPath}: no answer within 60000 ms; killed`)

  // A plugin whose background child keeps its stdout open: the timeout still ends the run at once
  // (waiting for the pipes to close would hold every request until that child exits).
  const orphaning = plugin(execConfig(dir, 'token', { command: '/bin/sh', args: ['-c', 'sleep 3 & sleep 3'] }), clock, timers).credential()
  await new Promise((resolve) => setTimeout(resolve, 100))
  await timers.advance(60_000)
  const settled = await Promise.race([orphaning.then(() => 'resolved', () => 'rejected'), new Promise((resolve) => setTimeout(() => { resolve('pending') }, 1_000))])
  t.equal(settled, 'rejected', 'settled at the timeout, not when the background child lets go of the pipe')
  t.equal(await failure(orphaning), 'kubernetes exec plugin /bin/sh: no answer within 60000 ms; killed')
})

t.test('parseExecCredential refuses what client-go refuses', async (t) => {
  const exec = execConfig('/', 'token')
  const v1 = (status: unknown): string => JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status })
  const cases: Array<[string, string]> = [
    [JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'Other' }), 'its output is not an ExecCredential (kind)'],
    [JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential' }), 'its ExecCredential has no status'],
    [v1({}), 'its ExecCredential has neither a token nor a client certificate and key'],
    [v1({ clientCertificateData: 'C' }), 'its ExecCredential has a client certificate without a key, or a key without a certificate'],
    [v1({ token: 't', expirationTimestamp: 'soon' }), 'its expirationTimestamp "soon" is not a time'],
  ]
  for (const [out, why] of cases) {
    t.throws(() => parseExecCredential(out, exec), new KubeCredentialsError(`kubernetes exec plugin ${process.execPath}: ${why}`), why)
  }
})
