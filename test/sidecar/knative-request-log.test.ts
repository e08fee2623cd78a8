import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { loadSidecarConfig } from '../../src/config/sidecar-config.ts'
import { childEnv, send, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'

// Knative's default request-log template (config/core/configmaps/observability.yaml).
const DEFAULT_TEMPLATE = '{"httpRequest": {"requestMethod": "{{.Request.Method}}", "requestUrl": "{{js .Request.RequestURI}}", "requestSize": "{{.Request.ContentLength}}", "status": {{.Response.Code}}, "responseSize": "{{.Response.Size}}", "userAgent": "{{js .Request.UserAgent}}", "remoteIp": "{{js .Request.RemoteAddr}}", "serverIp": "{{.Revision.PodIP}}", "referer": "{{js .Request.Referer}}", "latency": "{{.Response.Latency}}s", "protocol": "{{.Request.Proto}}"}, "traceId": "{{.TraceID}}"}'
const REVISION_ENV = { SERVING_REVISION: 'rev', SERVING_NAMESPACE: 'ns', SERVING_SERVICE: 'svc', SERVING_CONFIGURATION: 'cfg', SERVING_POD: 'pn', SERVING_POD_IP: '10.0.0.9' }
const o11y = (extra: Record<string, unknown>): string => JSON.stringify({ enableRequestLog: true, requestLogTemplate: DEFAULT_TEMPLATE, requestMetrics: { protocol: 'prometheus' }, tracing: {}, ...extra })

t.test('Knative\'s default template, one line per proxied request, through a real sidecar', async (t) => {
  const app = await startApp(t, (req, res) => { req.resume(); req.on('end', () => { res.end('abc') }) })
  const lines: string[] = []
  const { url } = await startSidecar(t, app.port, { ...REVISION_ENV, OBSERVABILITY_CONFIG: o11y({}) }, [], { requestLogWriter: (l) => { lines.push(l) } })
  const reply = await send(`${url}/page?x=1`, {
    method: 'POST',
    body: 'test',
    headers: { 'user-agent': 'curl/8 "q"', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  })
  t.equal(reply.status, 200)
  await until(() => lines.length === 1, 2000, 'one log line')
  const line = lines[0] ?? ''
  t.ok(line.endsWith('}\n'), 'newline appended as Knative does')
  const parsed = JSON.parse(line) as { httpRequest: Record<string, unknown>, traceId: string }
  t.match(parsed.httpRequest, {
    requestMethod: 'POST', requestUrl: '/page?x=1', requestSize: '4', status: 200, responseSize: '3',
    userAgent: 'curl/8 "q"', serverIp: '10.0.0.9', referer: '', protocol: 'HTTP/1.1',
  })
  t.match(String(parsed.httpRequest.remoteIp), /^127\.0\.0\.1:\d+$/)
  t.match(String(parsed.httpRequest.latency), /^\d+(\.\d+)?(e-0\d)?s$/)
  t.equal(parsed.traceId, '4bf92f3577b34da6a3ce929d0e0e4736')
  t.match(line, '"requestUrl": "/page?x\\u003D1"', 'js-escaped as Go does (= -> \\u003D)')
})

t.test('statuses the sidecar answers itself, revision fields, probes skipped unless enabled', async (t) => {
  const app = await startApp(t, (_req, res) => { res.statusCode = 204; res.end() })
  const lines: string[] = []
  const template = '{{.Response.Code}} {{.Response.Size}} {{.Revision.Name}}, {{.Revision.Namespace}}, {{.Revision.Service}}, {{.Revision.Configuration}}, {{.Revision.PodName}}, {{.Revision.PodIP}} {{index .Request.Header "K-Network-Probe"}}'
  const { url } = await startSidecar(t, app.port, { ...REVISION_ENV, OBSERVABILITY_CONFIG: o11y({ requestLogTemplate: template }) }, [], { requestLogWriter: (l) => { lines.push(l) } })
  t.equal((await send(url)).status, 204)
  // Probes: answered by the sidecar (kubelet), or proxied with a K-Network-Probe value it does not answer.
  t.equal((await send(url, { headers: { 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'queue' } })).status, 200)
  t.equal((await send(url, { headers: { 'k-network-probe': 'custom' } })).status, 204)
  await until(() => lines.length >= 1)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(lines, ['204 0 rev, ns, svc, cfg, pn, 10.0.0.9 []\n'], 'probes are not logged')

  const probeLines: string[] = []
  const withProbes = await startSidecar(t, app.port, { ...REVISION_ENV, OBSERVABILITY_CONFIG: o11y({ requestLogTemplate: '{{.Request.UserAgent}} {{.Response.Code}} {{.Response.Size}}', enableProbeRequestLog: true }) }, [], { requestLogWriter: (l) => { probeLines.push(l) } })
  await send(withProbes.url, { headers: { 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'queue' } })
  await send(withProbes.url, { headers: { 'user-agent': 'curl', 'k-network-probe': 'custom' } })
  await until(() => probeLines.length === 2)
  t.same(probeLines, ['kube-probe/1.30 200 5\n', 'curl 204 0\n'], 'enableProbeRequestLog: answered and proxied probes both logged')
})

t.test('a template that fails at execution writes Knative\'s fallback line', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end('x') })
  const lines: string[] = []
  const { url } = await startSidecar(t, app.port, { OBSERVABILITY_CONFIG: o11y({ requestLogTemplate: '{{.Request.NoSuchField}}' }) }, [], { requestLogWriter: (l) => { lines.push(l) } })
  await send(`${url}/p`)
  await until(() => lines.length === 1)
  t.match(lines[0], /^Invalid request log template: method: GET, response code: 200, latency: [\d.e-]+, url: \/p\n$/)
})

t.test('OBSERVABILITY_CONFIG: off by default, off without a template, bad values are config errors', async (t) => {
  t.equal(loadSidecarConfig([], {}).config?.observability.requestLogTemplate, null)
  t.equal(loadSidecarConfig([], { OBSERVABILITY_CONFIG: '{"enableRequestLog": false, "requestLogTemplate": "x"}' }).config?.observability.requestLogTemplate, null)
  t.equal(loadSidecarConfig([], { OBSERVABILITY_CONFIG: '{"enableRequestLog": true}' }).config?.observability.requestLogTemplate, null, 'enabled without a template logs nothing (Knative)')
  const cases: Array<[string, string]> = [
    ['{not json', 'config: OBSERVABILITY_CONFIG is not valid JSON'],
    ['[1]', 'config: OBSERVABILITY_CONFIG must be a JSON object'],
    ['{"enableRequestLog": "true"}', 'config: OBSERVABILITY_CONFIG.enableRequestLog must be a boolean'],
    ['{"tracing": 3}', 'config: OBSERVABILITY_CONFIG.tracing must be an object'],
    ['{"enableRequestLog": true, "requestLogTemplate": "{{if .X}}"}', 'config: OBSERVABILITY_CONFIG.requestLogTemplate: "if" is not supported'],
    ['{"enableRequestLog": true, "requestLogTemplate": "{{.Request"}', 'config: OBSERVABILITY_CONFIG.requestLogTemplate: unclosed action'],
  ]
  for (const [raw, want] of cases) {
    const { config, problems } = loadSidecarConfig([], { OBSERVABILITY_CONFIG: raw })
    t.equal(config, null, raw)
    t.ok(problems.length === 1 && (problems[0] ?? '').startsWith(want), `${raw}: ${problems.join(' | ')}`)
  }
})

t.test('bin/sluice sidecar with bad OBSERVABILITY_CONFIG: exit 2, one line', async (t) => {
  const bin = fileURLToPath(new URL('../../bin/sluice', import.meta.url))
  const child = spawn(process.execPath, [bin, 'sidecar'], { env: childEnv({ OBSERVABILITY_CONFIG: '{oops', USER_PORT: '8080' }), stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s })
  const code = await new Promise<number | null>((resolve) => { child.on('exit', resolve) })
  t.equal(code, 2)
  t.match(err, /config: OBSERVABILITY_CONFIG is not valid JSON/)
})
