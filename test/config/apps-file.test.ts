import t from 'tap'
import { parseAppsFile } from '../../src/config/apps-file.ts'
import { planLocalStack } from '../../src/cli/local-stack.ts'

t.test('parses YAML apps with camelCase autoscaling keys into annotations', async (t) => {
  const r = parseAppsFile(`
autoscaler:
  stable-window: 6s
  scale-to-zero-grace-period: 2
apps:
  - name: hello
    command: node server.js
    env: { GREETING: hi, N: 3 }
    cwd: app
    containerConcurrency: 5
    minScale: 1
    maxScale: 10
    target: 3
    metric: concurrency
    hosts: [hello.local]
    timeoutSeconds: 30
    readinessProbe: { httpGet: { path: /healthz } }
    annotations: { autoscaling.knative.dev/metric-aggregation-algorithm: weighted-exponential }
  - name: fixed
    namespace: demo
    command: ["./serve", "--port", "3000"]
    port: 3000
`, '/srv/apps.yaml')
  if (r.file === null) { t.fail(r.problems.join('\n')); return }
  t.same(r.file.autoscaler, { 'stable-window': '6s', 'scale-to-zero-grace-period': '2' })
  const [hello, fixed] = r.file.apps
  t.same(hello.command, ['/bin/sh', '-c', 'node server.js'])
  t.same(hello.env, { GREETING: 'hi', N: '3' })
  t.equal(hello.cwd, '/srv/app')
  t.equal(hello.containerConcurrency, 5)
  t.equal(hello.annotations['autoscaling.knative.dev/min-scale'], '1')
  t.equal(hello.annotations['autoscaling.knative.dev/max-scale'], '10')
  t.equal(hello.annotations['autoscaling.knative.dev/target'], '3')
  t.equal(hello.annotations['autoscaling.knative.dev/metric-aggregation-algorithm'], 'weighted-exponential')
  t.equal(hello.readinessProbe, '{"httpGet":{"path":"/healthz"}}')
  t.equal(hello.timeoutSeconds, 30)
  t.equal(fixed.namespace, 'demo')
  t.equal(fixed.port, 3000)
  t.equal(fixed.annotations['autoscaling.knative.dev/max-scale'], '1', 'a fixed port means one pod')
})

t.test('reports every problem, one line each, naming the field', async (t) => {
  const r = parseAppsFile(JSON.stringify({
    extra: 1,
    apps: [
      { name: 'Bad_Name', command: [], containerConcurrency: -1, port: 70000, typo: true },
      { name: 'fx', command: 'x', port: 80, maxScale: 3 },
      { name: 'ok', command: 'x' },
      { name: 'ok', command: 'y' },
    ],
  }), 'apps.json')
  t.equal(r.file, null)
  const text = (r.problems ?? []).join('\n')
  for (const expected of [/extra: unknown key/, /apps\[0\]\.name/, /apps\[0\]\.command/, /apps\[0\]\.containerConcurrency/, /apps\[0\]\.port/, /apps\[0\]\.typo: unknown key/, /apps\[1\]\.maxScale: must be 1/, /defined twice/]) {
    t.match(text, expected)
  }
  t.match(parseAppsFile('apps: [', 'x.yaml').problems?.[0] ?? '', /not valid YAML/)
  t.match(parseAppsFile('apps: []', 'x.yaml').problems?.[0] ?? '', /non-empty list/)
})

t.test('the plan checks config-autoscaler keys and each app\'s annotations', async (t) => {
  const good = parseAppsFile('autoscaler: { stable-window: 6s }\napps: [{ name: a, command: x, minScale: 0 }]', 'f')
  if (good.file === null) throw new Error('parse')
  const ok = planLocalStack(good.file, { 'initial-scale': '0', 'allow-zero-initial-scale': 'true' })
  t.equal(ok.plan?.config.stableWindowMs, 6000)
  t.equal(ok.plan?.config.initialScale, 0)
  const bad = parseAppsFile('autoscaler: { stable-windw: 6s, max-scale-up-rate: 1 }\napps: [{ name: a, command: x, window: 2s }]', 'f')
  if (bad.file === null) throw new Error('parse')
  const plan = planLocalStack(bad.file, {})
  t.equal(plan.plan, null)
  const text = plan.problems.join('\n')
  t.match(text, /stable-windw: unknown/)
  t.match(text, /max-scale-up-rate/)
})
