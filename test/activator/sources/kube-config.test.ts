import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { kubeConfigForServer, kubeConfigLocation, loadKubeConfig } from '../../../src/activator/sources/kube-config.ts'
import { ConfigError } from '../../../src/shared/errors.ts'

t.test('kubeConfigForServer: plain http allowed, https verified', async (t) => {
  t.same(kubeConfigForServer('http://127.0.0.1:8001').getCurrentCluster(), { name: 'sluice', server: 'http://127.0.0.1:8001', skipTLSVerify: true })
  t.equal(kubeConfigForServer('https://10.96.0.1').getCurrentCluster()?.skipTLSVerify, false)
})

t.test('loadKubeConfig reads a kubeconfig file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-kubeconfig-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'config')
  await writeFile(path, [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: c, cluster: {server: "https://k8s.example:6443", insecure-skip-tls-verify: true}}]',
    'users: [{name: u, user: {token: abc}}]',
    'contexts: [{name: x, context: {cluster: c, user: u}}]',
    'current-context: x',
  ].join('\n'))
  const kc = loadKubeConfig({ inCluster: false, kubeconfigPath: path })
  t.equal(kc.getCurrentCluster()?.server, 'https://k8s.example:6443')
})

t.test('loadKubeConfig: a missing or empty file is a ConfigError', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-kubeconfig-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const missing = join(dir, 'absent')
  t.throws(() => loadKubeConfig({ inCluster: false, kubeconfigPath: missing }), ConfigError)
  try {
    loadKubeConfig({ inCluster: false, kubeconfigPath: missing })
  } catch (err) {
    t.match(err instanceof ConfigError ? err.problems[0] : '', `kubeconfig: cannot load ${missing}: `)
  }
  const empty = join(dir, 'empty')
  await writeFile(empty, 'apiVersion: v1\nkind: Config\n')
  t.throws(() => loadKubeConfig({ inCluster: false, kubeconfigPath: empty }), ConfigError)
})

t.test('kubeConfigLocation: in cluster, else first KUBECONFIG entry, else ~/.kube/config', async (t) => {
  t.same(kubeConfigLocation({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBECONFIG: '/k' }, '/home/u'), { inCluster: true, kubeconfigPath: '/k' })
  t.same(kubeConfigLocation({ KUBECONFIG: ':/a:/b' }, '/home/u'), { inCluster: false, kubeconfigPath: '/a' })
  t.same(kubeConfigLocation({ KUBERNETES_SERVICE_HOST: '' }, '/home/u'), { inCluster: false, kubeconfigPath: '/home/u/.kube/config' })
})
