import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { withRequestLogTemplate } from '../../src/config/observability-config.ts'
import { wantsRequestLog, type ObservabilityConfig } from '../../src/config/observability-settings.ts'
import { loadSidecarConfig } from '../../src/config/sidecar-config.ts'
import { childEnv, send, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'

// Knative's default request-log template (config/core/configmaps/observability.yaml).
const DEFAULT_TEMPLATE = '{"httpRequest": {"requestMethod": "{{.Request.Method}}", "requestUrl": "{{js .Request.RequestURI}}", "requestSize": "{{.Request.ContentLength}}", "status": {{.Response.Code}}, "responseSize": "{{.Response.Size}}", "userAgent": "{{js .Request.UserAgent}}", "remoteIp": "{{js .Request.RemoteAddr}}", "serverIp": "{{.Revision.PodIP}}", "referer": "{{js .Request.Referer}}", "latency": "{{.Response.Latency}}s", "protocol": "{{.Request.Proto}}"}, "traceId": "{{.TraceID}}"}'
const REVISION_ENV = { SERVING_REVISION: 'rev', SERVING_NAMESPACE: 'ns', SERVING_SERVICE: 'svc', SERVING_CONFIGURATION: 'cfg', SERVING_POD: 'pn', SERVING_POD_IP: '10.0.0.9' }
const o11y = (extra: Record<string, unknown>): string => JSON.stringify({ enableRequestLog: true, requestLogTemplate: DEFAULT_TEMPLATE, requestMetrics: { protocol: 'none' }, tracing: {}, ...extra })

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

/** The sidecar's OBSERVABILITY_CONFIG as Sidecar.listen uses it: decoded by the config, the template compiled when the log is on. */
function o11yOf (env: Record<string, string>): ObservabilityConfig | null {
  const config = loadSidecarConfig([], env).config
  return config === null ? null : withRequestLogTemplate(config.observability)
}

t.test('OBSERVABILITY_CONFIG: off by default, off without a template, decoded as Go\'s encoding/json, bad values are config errors', async (t) => {
  const off = loadSidecarConfig([], {}).config?.observability
  t.ok(off !== undefined && !wantsRequestLog(off), 'off by default')
  t.equal(o11yOf({})?.requestLogTemplate, null)
  const disabled = o11yOf({ OBSERVABILITY_CONFIG: '{"enableRequestLog": false, "requestLogTemplate": "{{if}}"}' })
  t.equal(disabled?.requestLogTemplate, null, 'disabled: no request log')
  t.equal(disabled?.requestLogTemplateError, null, 'disabled: the template is not even parsed (queue-proxy builds the handler only when enabled)')
  t.equal(o11yOf({ OBSERVABILITY_CONFIG: '{"enableRequestLog": true}' })?.requestLogTemplate, null, 'enabled without a template logs nothing (Knative)')
  const raw = '{"EnableRequestLog": true, "requestlogtemplate": "x", "tracing": null, "runtime": {"profiling": "enabled"}, "requestMetrics": {"protocol": "prometheus", "nested": {"a": 1}}, "unknown": 5}'
  const decoded = loadSidecarConfig([], { OBSERVABILITY_CONFIG: raw }).config?.observability
  t.ok(decoded !== undefined && wantsRequestLog(decoded) && decoded.requestLogTemplate === null, 'the config decodes, it does not compile (the sidecar compiles in listen())')
  const go = o11yOf({ OBSERVABILITY_CONFIG: raw })
  t.not(go?.requestLogTemplate, null, 'keys match case-insensitively')
  t.ok(Object.isFrozen(go), 'the compiled config is frozen too')
  t.equal(go?.tracing, null, 'null leaves the default')
  t.same(go?.runtime, { profiling: 'enabled' })
  t.same(go?.requestMetrics, { protocol: 'prometheus', nested: { a: 1 } }, 'kept for later use')
  t.ok(Object.isFrozen(go?.requestMetrics) && Object.isFrozen(go?.requestMetrics?.nested), 'frozen, nested objects too')
  const cases: Array<[string, string]> = [
    ['{not json', 'config: OBSERVABILITY_CONFIG is not valid JSON: '],
    ['[1]', 'config: OBSERVABILITY_CONFIG must be a JSON object, got an array'],
    ['{"enableRequestLog": "true"}', 'config: OBSERVABILITY_CONFIG.enableRequestLog must be a boolean, got a string ("true")'],
    ['{"tracing": 3}', 'config: OBSERVABILITY_CONFIG.tracing must be an object, got a number (3)'],
    ['{"requestMetrics": []}', 'config: OBSERVABILITY_CONFIG.requestMetrics must be an object, got an array'],
  ]
  for (const [raw, want] of cases) {
    const { config, problems } = loadSidecarConfig([], { OBSERVABILITY_CONFIG: raw })
    t.equal(config, null, raw)
    t.ok(problems.length === 1 && (problems[0] ?? '').startsWith(want), `${raw}: ${problems.join(' | ')}`)
  }
})

t.test('OBSERVABILITY_CONFIG: a template that does not parse is no config error; the log is off and Go\'s message kept', async (t) => {
  const cases: Array<[string, string]> = [
    ['{{if .X}}', 'template: requestLog:2: unexpected EOF'], // Knative appends the newline: EOF is on line 2
    ['{{.Request', 'template: requestLog:2: unclosed action started at requestLog:1'], // the appended newline is inside the action
    ['{{nosuch}}', 'template: requestLog:1: function "nosuch" not defined'],
    ['{{end}}', 'template: requestLog:1: unexpected {{end}}'],
  ]
  for (const [template, want] of cases) {
    const env = { OBSERVABILITY_CONFIG: JSON.stringify({ enableRequestLog: true, requestLogTemplate: template }) }
    t.same(loadSidecarConfig([], env).problems, [], template)
    const o = o11yOf(env)
    t.equal(o?.requestLogTemplate, null, `${template}: no request log`)
    t.equal(o?.requestLogTemplateError?.message, want, `${template}: Go's parse error`)
  }
  t.equal(o11yOf({ OBSERVABILITY_CONFIG: '{"enableRequestLog": true, "requestLogTemplate": "{{.X}}"}' })?.requestLogTemplateError, null)
})

const BIN = fileURLToPath(new URL('../../bin/sluice', import.meta.url))

/** Runs `sluice sidecar` with `env` until it exits; returns the exit code and everything it printed. */
async function runToExit (env: Record<string, string>): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0'], {
    env: childEnv({ USER_PORT: '8080', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
  const code = await new Promise<number | null>((resolve) => { child.on('close', resolve) })
  clearTimeout(timer)
  return { code, stdout, stderr }
}

t.test('bin/sluice sidecar with bad OBSERVABILITY_CONFIG JSON: exit 2, one line', async (t) => {
  const badJson = await runToExit({ OBSERVABILITY_CONFIG: '{oops' })
  t.equal(badJson.code, 2)
  t.match(badJson.stderr, /^config: OBSERVABILITY_CONFIG is not valid JSON: [^\n]+\n$/)
  t.equal(badJson.stdout, '')
})

t.test('bin/sluice sidecar with a template that does not parse: one error line, serves without a request log (as queue-proxy)', async (t) => {
  const app = await startApp(t, (req, res) => { req.resume(); req.on('end', () => { res.end('abc') }) })
  const child = spawn(process.execPath, [BIN, 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0'], {
    env: childEnv({ USER_PORT: String(app.port), ...REVISION_ENV, OBSERVABILITY_CONFIG: o11y({ requestLogTemplate: 'x {{.Request.Method', requestMetrics: null }) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s })
  await until(() => out.includes('"sidecar listening"'), 5000, 'listening')
  const records = (): Array<Record<string, unknown>> => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  const port = (records().find((r) => r.msg === 'sidecar listening') as { ports: { serving: number } }).ports.serving
  t.equal((await send(`http://127.0.0.1:${port}/p`)).status, 200, 'serves')
  t.equal((await send(`http://127.0.0.1:${port}/q`)).status, 200)
  child.kill('SIGTERM')
  const code = await new Promise((resolve) => { child.on('close', resolve) })
  t.equal(code, 0, 'a clean exit on SIGTERM')
  t.equal(err, '', 'nothing on stderr: not a config error')
  const errors = records().filter((r) => r.level === 'error')
  t.equal(errors.length, 1, 'one error line')
  t.match(errors[0], { msg: 'Error setting up request logger. Request logs will be unavailable.', err: { message: 'template: requestLog:2: unclosed action started at requestLog:1' } })
  t.notOk(out.includes('x GET'), 'no request log line')
})

t.test('a sidecar process writes the request log to stdout as raw lines, beside pino\'s', async (t) => {
  const app = await startApp(t, (req, res) => { req.resume(); req.on('end', () => { res.end('abc') }) })
  const child = spawn(process.execPath, [BIN, 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0'], {
    env: childEnv({ USER_PORT: String(app.port), ...REVISION_ENV, OBSERVABILITY_CONFIG: o11y({}) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
  await until(() => out.includes('"sidecar listening"'), 5000, 'listening')
  const line = out.split('\n').find((l) => l.includes('"sidecar listening"')) ?? '{}'
  const port = (JSON.parse(line) as { ports: { serving: number } }).ports.serving
  const url = `http://127.0.0.1:${port}`
  t.equal((await send(`${url}/p?q=1`, { method: 'POST', body: 'test', headers: { 'x-b3-traceid': 'b3id' } })).status, 200)
  t.equal((await send(url, { headers: { 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'queue' } })).status, 200, 'a probe (not logged)')
  t.equal((await send(`${url}/second`)).status, 200)
  const logLines = (): string[] => out.split('\n').filter((l) => l.startsWith('{"httpRequest"'))
  await until(() => logLines().length === 2, 3000, 'two request log lines')
  child.kill('SIGTERM')
  await new Promise((resolve) => { child.on('close', resolve) })
  for (const l of out.split('\n').filter((x) => x !== '')) t.doesNotThrow(() => JSON.parse(l), 'every stdout line is whole')
  const [first, second] = logLines().map((l) => JSON.parse(l) as { httpRequest: Record<string, unknown>, traceId: string })
  t.match(first?.httpRequest, { requestMethod: 'POST', requestUrl: '/p?q=1', requestSize: '4', status: 200, responseSize: '3', serverIp: '10.0.0.9', protocol: 'HTTP/1.1' })
  t.equal(first?.traceId, 'b3id')
  t.match(String(first?.httpRequest.latency), /^(0\.\d{1,9}|\d\.\d+e-0[5-9])s$/, 'latency in seconds, as Go prints a float64')
  t.ok(Number.parseFloat(String(first?.httpRequest.latency)) > 0)
  t.match(second?.httpRequest, { requestMethod: 'GET', requestUrl: '/second', requestSize: '0', status: 200, responseSize: '3' })
  t.match(out, /"\}, "traceId": "b3id"\}\n/, 'the raw line, not wrapped in a pino record')
})

t.test('a client that leaves before the response: the status Go\'s ResponseRecorder reports', async (t) => {
  const held: Array<() => void> = []
  const app = await startApp(t, (_req, res) => { held.push(() => { res.end('late') }) })
  t.teardown(() => { for (const release of held) release() })
  const lines: string[] = []
  const { url } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1', OBSERVABILITY_CONFIG: o11y({ requestLogTemplate: '{{.Request.URL}} {{.Response.Code}} {{.Response.Size}}' }) }, [],
    { requestLogWriter: (l) => { lines.push(l) } })
  const proxying = new AbortController()
  const queued = new AbortController()
  const a = send(`${url}/proxying`, { signal: proxying.signal }).catch(() => null)
  await until(() => held.length === 1, 2000, 'the app has the first request')
  const b = send(`${url}/queued`, { signal: queued.signal }).catch(() => null)
  await new Promise((resolve) => setTimeout(resolve, 30))
  queued.abort()
  await until(() => lines.length === 1, 2000, 'the queued request logged')
  proxying.abort()
  await until(() => lines.length === 2, 2000, 'the proxied request logged')
  await Promise.all([a, b])
  t.same(lines, ['/queued 500 0\n', '/proxying 200 0\n'], 'queued: the breaker\'s 500; proxying: the recorder\'s default 200')
})
