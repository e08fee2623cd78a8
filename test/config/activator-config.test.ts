import t from 'tap'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'

t.test('defaults follow Knative', async (t) => {
  const { config, problems } = loadActivatorConfig([], { POD_NAME: 'activator-abc', POD_IP: '10.0.0.9' })
  t.same(problems, [])
  t.match(config, {
    servingPort: 8012, adminPort: 8022, metricsPort: 9090, host: '', source: 'api', revisionsFile: '',
    activatorCount: 1, activatorIndex: -1, reusePort: false, queueDepth: 10_000, activationTimeoutMs: 300_000, queueTimeoutMs: 0, drainMs: 30_000,
    autoscalerUrl: '', statsProtocol: 'knative', requestLog: false, logLevel: 'info', podName: 'activator-abc', podIp: '10.0.0.9',
  })
})

t.test('--revisions implies --source static; seconds become ms', async (t) => {
  const { config } = loadActivatorConfig(['--revisions', 'r.yaml', '--activation-timeout', '2.5', '--queue-timeout', '0.2', '--drain-seconds', '0'], {})
  t.equal(config?.source, 'static')
  t.equal(config?.activationTimeoutMs, 2500)
  t.equal(config?.queueTimeoutMs, 200)
  t.equal(config?.drainMs, 0)
  t.ok((config?.podName ?? '') !== '', 'POD_NAME defaults to the host name')
})

t.test('every problem is reported, one line each', async (t) => {
  const { config, problems } = loadActivatorConfig(['--source', 'static', '--port', '9090', '--activator-count', '0', '--autoscaler', 'http://x', '--queue-depth', '-1', '--stats-protocol', 'xml'], {})
  t.equal(config, null)
  t.same(problems.sort(), [
    'config: --activator-count must be an integer >= 1, got "0"',
    'config: --autoscaler must be a ws:// or wss:// URL, got "http://x"',
    'config: --port and --metrics-port are both 9090',
    'config: --queue-depth must be an integer >= 0, got "-1"',
    'config: --source static needs --revisions FILE',
    'config: --stats-protocol must be one of knative|json, got "xml"',
  ])
})

t.test('activator replicas: index below count; --reuse-port', async (t) => {
  const ok = loadActivatorConfig(['--activator-count', '3', '--activator-index', '2', '--reuse-port'], {})
  t.match(ok.config, { activatorCount: 3, activatorIndex: 2, reusePort: true })
  t.same(loadActivatorConfig(['--activator-index', '1'], {}).problems, ['config: --activator-index must be < --activator-count (1), got 1'])
  t.same(loadActivatorConfig(['--activator-count', '2', '--activator-index', '-1'], {}).problems, ['config: --activator-index must be an integer >= 0, got "-1"'])
})

t.test('--revisions with --source api seeds the revisions (sluice up); not with kubernetes', async (t) => {
  const seeded = loadActivatorConfig(['--source', 'api', '--revisions', '/tmp/seed.json'], {})
  t.same(seeded.problems, [])
  t.equal(seeded.config?.source, 'api')
  t.equal(seeded.config?.revisionsFile, '/tmp/seed.json')
  t.same(loadActivatorConfig(['--source', 'kubernetes', '--revisions', '/tmp/seed.json'], {}).problems,
    ['config: --revisions is read with --source static or api, not with --source kubernetes'])
})

t.test('kubernetes options', async (t) => {
  const { config } = loadActivatorConfig(['--source', 'kubernetes', '--kubernetes-server', 'http://127.0.0.1:8001', '--kubernetes-namespace', 'apps'], { KUBECONFIG: '/k/config' })
  t.equal(config?.kubernetesServer, 'http://127.0.0.1:8001')
  t.equal(config?.kubernetesNamespace, 'apps')
  t.same(config?.kubeEnv, { KUBECONFIG: '/k/config' })
  const wrong = loadActivatorConfig(['--kubernetes-server', 'http://x'], {})
  t.same(wrong.problems, ['config: --kubernetes-server is only used with --source kubernetes'])
})
