import t from 'tap'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EMPTY_REST_CONFIG, inClusterConfig, kubeConfigForServer, kubeConfigLocation, loadKubeConfig } from '../../src/kube/kube-config.ts'
import { ConfigError } from '../../src/shared/errors.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { captureLogger } from '../activator/sources/capture-logger.ts'

async function tempDir (t: { teardown (fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-kubeconfig-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function problemsOf (p: Promise<unknown>): Promise<readonly string[]> {
  const err = await p.then(() => null, (e: unknown) => e)
  return err instanceof ConfigError ? err.problems : [`not a ConfigError: ${String(err)}`]
}

t.test('kubeConfigForServer: the URL alone, no credentials', async (t) => {
  t.same(kubeConfigForServer('http://127.0.0.1:8001'), { ...EMPTY_REST_CONFIG, host: 'http://127.0.0.1:8001' })
})

t.test('loadKubeConfig reads the kubeconfig file of the location', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config')
  await writeFile(path, [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: c, cluster: {server: "https://k8s.example:6443", insecure-skip-tls-verify: true}}]',
    'users: [{name: u, user: {token: abc}}]',
    'contexts: [{name: x, context: {cluster: c, user: u}}]',
    'current-context: x',
  ].join('\n'))
  const kc = await loadKubeConfig(kubeConfigLocation({ KUBECONFIG: path }, '/nowhere'), { logger: silentLogger() })
  t.same(kc, { ...EMPTY_REST_CONFIG, host: 'https://k8s.example:6443', bearerToken: 'abc', insecure: true })
})

t.test('loadKubeConfig: a missing, empty or non-YAML file is a ConfigError naming it', async (t) => {
  const dir = await tempDir(t)
  const load = (path: string): Promise<unknown> => loadKubeConfig(kubeConfigLocation({ KUBECONFIG: path }, '/'), { logger: silentLogger() })
  const missing = join(dir, 'absent')
  t.match(await problemsOf(load(missing)), [`kubeconfig: cannot read ${missing}: ENOENT`])
  const empty = join(dir, 'empty')
  await writeFile(empty, 'apiVersion: v1\nkind: Config\n')
  t.match(await problemsOf(load(empty)), [`kubeconfig: ${empty}: no current-context`])
  const garbage = join(dir, 'garbage')
  await writeFile(garbage, 'clusters: [unclosed\n')
  t.match(await problemsOf(load(garbage)), [`kubeconfig: ${garbage}: not YAML`])
  const list = join(dir, 'list')
  await writeFile(list, '- a\n- b\n')
  t.match(await problemsOf(load(list)), [`kubeconfig: ${list}: not a kubeconfig`])
})

t.test('unsupported kubeconfig features are refused, one line each, never ignored', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config')
  await writeFile(path, [
    'clusters: [{name: c, cluster: {server: "https://k8s.example", proxy-url: "http://proxy:3128"}}]',
    'users: [{name: u, user: {auth-provider: {name: oidc, config: {}}, as: admin, as-groups: [x]}}]',
    'contexts: [{name: x, context: {cluster: c, user: u}}]',
    'current-context: x',
  ].join('\n'))
  const problems = await problemsOf(loadKubeConfig(kubeConfigLocation({ KUBECONFIG: path }, '/'), { logger: silentLogger() }))
  t.same(problems, [
    `kubeconfig: ${path}: cluster "c": proxy-url is not supported`,
    `kubeconfig: ${path}: user "u": auth-provider "oidc" is not supported; use the provider's exec plugin (client.authentication.k8s.io exec)`,
    `kubeconfig: ${path}: user "u": impersonation (as) is not supported`,
    `kubeconfig: ${path}: user "u": impersonation (as-groups) is not supported`,
  ])
})

t.test('exec plugins Sluice cannot run are refused: interactiveMode Always, an unknown apiVersion, bad fields', async (t) => {
  const dir = await tempDir(t)
  const path = join(dir, 'config')
  await writeFile(path, [
    'clusters: [{name: c, cluster: {server: "https://k8s.example", insecure-skip-tls-verify: "yes"}}]',
    'users: [{name: u, user: {token: 7, exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x, interactiveMode: Always, args: [1], env: [{value: v}]}}}]',
    'contexts: [{name: x, context: {cluster: c, user: u}}]',
    'current-context: x',
  ].join('\n'))
  const problems = await problemsOf(loadKubeConfig(kubeConfigLocation({ KUBECONFIG: path }, '/'), { logger: silentLogger() }))
  const p = (s: string): string => `kubeconfig: ${path}: ${s}`
  t.same(problems, [
    p('clusters[c].cluster.insecure-skip-tls-verify must be true or false'),
    p('users[u].user.token must be a string'),
    p('users[u].user.exec.args must be a list of strings'),
    p('user "u": every exec env entry needs a name'),
    p('user "u": exec apiVersion "client.authentication.k8s.io/v1alpha1" is not supported (client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1)'),
    p('user "u": exec interactiveMode Always needs a terminal, which Sluice never has'),
  ])
})

t.test('a server without a scheme, or with another one, is refused', async (t) => {
  const dir = await tempDir(t)
  for (const server of ['k8s.example:6443', 'ftp://k8s.example']) {
    const path = join(dir, 'config')
    await writeFile(path, `clusters: [{name: c, cluster: {server: "${server}"}}]\ncontexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n`)
    t.match(await problemsOf(loadKubeConfig(kubeConfigLocation({ KUBECONFIG: path }, '/'), { logger: silentLogger() })), [`server "${server}" of cluster "c" must start with https:// or http://`])
  }
})

t.test('in cluster: https://host:port, the service account token (kept re-readable) and CA', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'token'), 'sa-token\n')
  await writeFile(join(dir, 'ca.crt'), 'CA PEM')
  const location = kubeConfigLocation({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, '/nowhere')
  t.same(await loadKubeConfig(location, { logger: silentLogger(), serviceAccountDir: dir }), {
    ...EMPTY_REST_CONFIG, host: 'https://10.96.0.1:443', bearerToken: 'sa-token\n', bearerTokenFile: join(dir, 'token'), caData: 'CA PEM',
  })
  t.equal(inClusterConfig('fd00:10:96::1', '6443', dir, silentLogger()).host, 'https://[fd00:10:96::1]:6443', 'an IPv6 host is bracketed')
})

t.test('in cluster: no port or no token is a ConfigError; no CA is logged and the system roots used', async (t) => {
  const dir = await tempDir(t)
  t.match(await problemsOf(loadKubeConfig(kubeConfigLocation({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, '/'), { logger: silentLogger(), serviceAccountDir: dir })),
    ['kubeconfig: in-cluster config needs both KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT'])
  t.match(await problemsOf(loadKubeConfig(kubeConfigLocation({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, '/'), { logger: silentLogger(), serviceAccountDir: dir })),
    [`kubeconfig: in-cluster config: cannot read the service account token ${join(dir, 'token')}: ENOENT`])
  await writeFile(join(dir, 'token'), 't')
  const { logger, lines } = captureLogger()
  const config = inClusterConfig('10.96.0.1', '443', dir, logger)
  t.equal(config.caData, '')
  t.match(lines, [{ msg: 'kubernetes: cannot read the in-cluster CA; verifying the API server with the system roots', caFile: join(dir, 'ca.crt') }])
})

t.test('kubeConfigLocation: the first KUBECONFIG entry, else ~/.kube/config; in cluster noted', async (t) => {
  t.same(kubeConfigLocation({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: '/k' }, '/home/u'), { inCluster: true, explicitKubeconfig: true, serviceHost: '10.96.0.1', servicePort: '443', kubeconfigPath: '/k' })
  t.same(kubeConfigLocation({ KUBECONFIG: ':/a:/b' }, '/home/u'), { inCluster: false, explicitKubeconfig: true, serviceHost: '', servicePort: '', kubeconfigPath: '/a' })
  t.same(kubeConfigLocation({ KUBERNETES_SERVICE_HOST: '' }, '/home/u'), { inCluster: false, explicitKubeconfig: false, serviceHost: '', servicePort: '', kubeconfigPath: '/home/u/.kube/config' })
})

t.test('client-go\'s precedence in a pod: KUBECONFIG wins, then an existing ~/.kube/config, then the service account', async (t) => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'token'), 'sa-token')
  const home = await tempDir(t)
  const kubeconfig = join(dir, 'kubeconfig')
  await writeFile(kubeconfig, 'clusters: [{name: c, cluster: {server: "https://from-kubeconfig:6443"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n')
  const pod = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }
  const load = (env: Record<string, string>): Promise<{ host: string }> => loadKubeConfig(kubeConfigLocation(env, home), { logger: silentLogger(), serviceAccountDir: dir })
  t.equal((await load({ ...pod, KUBECONFIG: kubeconfig })).host, 'https://from-kubeconfig:6443', 'KUBECONFIG, in a pod too')
  t.equal((await load(pod)).host, 'https://10.96.0.1:443', 'no kubeconfig: the service account')
  await mkdir(join(home, '.kube'))
  await writeFile(join(home, '.kube', 'config'), await readFile(kubeconfig))
  t.equal((await load(pod)).host, 'https://from-kubeconfig:6443', 'an existing ~/.kube/config comes before the service account, as client-go')
  t.match(await problemsOf(load({ ...pod, KUBECONFIG: join(dir, 'missing') })), [/missing/], 'a KUBECONFIG that is not there is an error, not a fall-back')
})
