import t from 'tap'
import { parseObservabilityConfig } from '../../src/config/observability-config.ts'
import { goSeconds, knativeRequestLogFor, type KnativeRequestLog, type RequestLogRevision, type RequestLogSite } from '../../src/proxy/knative-request-log.ts'
import { inbound } from '../helpers/inbound-request.ts'

// Knative's pkg/http/request_log_test.go, translated, and Knative's default template
// (config/core/configmaps/observability.yaml) rendered byte for byte for known requests.

const DEFAULT_TEMPLATE = '{"httpRequest": {"requestMethod": "{{.Request.Method}}", "requestUrl": "{{js .Request.RequestURI}}", "requestSize": "{{.Request.ContentLength}}", "status": {{.Response.Code}}, "responseSize": "{{.Response.Size}}", "userAgent": "{{js .Request.UserAgent}}", "remoteIp": "{{js .Request.RemoteAddr}}", "serverIp": "{{.Revision.PodIP}}", "referer": "{{js .Request.Referer}}", "latency": "{{.Response.Latency}}s", "protocol": "{{.Request.Proto}}"}, "traceId": "{{.TraceID}}"}'

const REVISION: RequestLogRevision = Object.freeze({ Name: 'rev', Namespace: 'ns', Service: 'svc', Configuration: 'cfg', PodName: 'pn', PodIP: 'ip' })

function logFor (template: string, enableProbeRequestLog = false, site: RequestLogSite = 'queue-proxy'): { log: KnativeRequestLog | null, lines: string[], problems: string[] } {
  const problems: string[] = []
  const lines: string[] = []
  const o11y = parseObservabilityConfig(JSON.stringify({ enableRequestLog: true, requestLogTemplate: template, enableProbeRequestLog }), problems)
  return { log: knativeRequestLogFor(o11y, (l) => { lines.push(l) }, site), lines, problems }
}

// httptest.NewRequest(http.MethodPost, "http://example.com/testpage", body "test").
const knativeRequest = (probe: boolean) => inbound({
  method: 'POST',
  url: 'http://example.com/testpage',
  raw: ['Host', 'example.com', 'Content-Length', '4', ...(probe ? ['K-Network-Probe', 'activator'] : [])],
  remote: ['192.0.2.1', 1234],
})

t.test('TestRequestLogHandler cases', async (t) => {
  const cases: Array<{ name: string, template: string, want: string, isProbe?: boolean, enableProbeRequestLog?: boolean }> = [
    { name: 'empty template', template: '', want: '' },
    { name: 'template with new line', template: '{{.Request.URL}}\n', want: 'http://example.com/testpage\n' },
    { name: 'template without new line', template: '{{.Request.ContentLength}}', want: '4\n' },
    { name: 'revision info', template: '{{.Revision.Name}}, {{.Revision.Namespace}}, {{.Revision.Service}}, {{.Revision.Configuration}}, {{.Revision.PodName}}, {{.Revision.PodIP}}', want: 'rev, ns, svc, cfg, pn, ip\n' },
    { name: 'probe request and logging support disabled', template: '{{.Request.ContentLength}}', want: '', isProbe: true },
    { name: 'probe request and logging support enabled', template: '{{.Request.ContentLength}}', want: '4\n', isProbe: true, enableProbeRequestLog: true },
  ]
  for (const c of cases) {
    const { log, lines, problems } = logFor(c.template, c.enableProbeRequestLog ?? false)
    t.same(problems, [], c.name)
    log?.logAnswered(knativeRequest(c.isProbe ?? false), 200, 0, 1, REVISION)
    t.equal(lines.join(''), c.want, c.name)
  }
  const invalid = logFor('{{}}')
  t.equal(invalid.log, null, 'invalid template: no log')
  t.same(invalid.problems, [], 'not a config error: Knative serves without the request log')
  const o11y = parseObservabilityConfig(JSON.stringify({ enableRequestLog: true, requestLogTemplate: '{{}}' }), [])
  t.equal(o11y.requestLogTemplateError?.message, 'template: requestLog:1: missing value for command', 'Go\'s parse error, for the one error line')
})

t.test('TestFailedTemplateExecution: Knative\'s fallback line, values printed with %v', async (t) => {
  const { log, lines } = logFor('{{.Request.Something}}')
  log?.logAnswered(inbound({ method: 'GET', url: 'http://example.com', raw: ['Host', 'example.com'] }), 200, 0, 1.5, REVISION)
  t.same(lines, ['Invalid request log template: method: GET, response code: 200, latency: 0.0015, url: http://example.com\n'])
  const small = logFor('{{.Nope}}')
  small.log?.logAnswered(inbound({ url: '/p?q=1' }), 503, 0, 0.0425, REVISION)
  t.same(small.lines, ['Invalid request log template: method: GET, response code: 503, latency: 4.25e-05, url: /p?q=1\n'])
})

t.test('Knative\'s default template, byte for byte', async (t) => {
  const { log, lines } = logFor(DEFAULT_TEMPLATE)
  const revision = { ...REVISION, PodIP: '10.0.0.9' }
  log?.logAnswered(inbound({
    method: 'POST',
    url: '/page?x=1',
    raw: ['Host', 'example.com', 'User-Agent', 'curl/8.5 "quoted" <tag>', 'Referer', 'https://ref.example/a?b=c&d=e', 'Content-Length', '4',
      'traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    remote: ['10.1.2.3', 54321],
  }), 201, 17, 1.234567, revision)
  log?.logAnswered(inbound({
    url: '/search?q=%22x%22&lang=fr',
    raw: ['Host', 'example.com', 'User-Agent', Buffer.from('Mozilla/5.0 (héllo\u00a0)', 'utf8').toString('latin1'), 'X-B3-TraceId', '80f198ee56343ba864fe8b2a57d3eff7'],
    remote: ['::1', 40000],
  }), 404, 0, 0.0425, revision)
  log?.logAnswered(inbound({ method: 'PUT', url: '/', raw: ['Host', 'h', 'Transfer-Encoding', 'chunked'], version: [1, 1], remote: ['::ffff:10.9.8.7', 1] }), 200, 2, 1500, revision)
  t.equal(lines[0], '{"httpRequest": {"requestMethod": "POST", "requestUrl": "/page?x\\u003D1", "requestSize": "4", "status": 201, "responseSize": "17", ' +
    '"userAgent": "curl/8.5 \\"quoted\\" \\u003Ctag\\u003E", "remoteIp": "10.1.2.3:54321", "serverIp": "10.0.0.9", ' +
    '"referer": "https://ref.example/a?b\\u003Dc\\u0026d\\u003De", "latency": "0.001234567s", "protocol": "HTTP/1.1"}, "traceId": "4bf92f3577b34da6a3ce929d0e0e4736"}\n')
  t.equal(lines[1], '{"httpRequest": {"requestMethod": "GET", "requestUrl": "/search?q\\u003D%22x%22\\u0026lang\\u003Dfr", "requestSize": "0", "status": 404, "responseSize": "0", ' +
    '"userAgent": "Mozilla/5.0 (héllo\\u00A0)", "remoteIp": "[::1]:40000", "serverIp": "10.0.0.9", ' +
    '"referer": "", "latency": "4.25e-05s", "protocol": "HTTP/1.1"}, "traceId": "80f198ee56343ba864fe8b2a57d3eff7"}\n')
  t.equal(lines[2], '{"httpRequest": {"requestMethod": "PUT", "requestUrl": "/", "requestSize": "-1", "status": 200, "responseSize": "2", ' +
    '"userAgent": "", "remoteIp": "10.9.8.7:1", "serverIp": "10.0.0.9", "referer": "", "latency": "1.5s", "protocol": "HTTP/1.1"}, "traceId": ""}\n')
  t.equal(Buffer.byteLength(lines[1] ?? ''), Buffer.byteLength(lines[1] ?? '', 'utf8'), 'é goes out as the two UTF-8 bytes it came in as')
})

t.test('probes: kubelet user agent, K-Kubelet-Probe, any K-Network-Probe', async (t) => {
  const { log, lines } = logFor('{{.Request.URL}}')
  for (const raw of [['User-Agent', 'kube-probe/1.30'], ['K-Kubelet-Probe', 'queue'], ['K-Network-Probe', 'queue'], ['K-Network-Probe', ''], ['User-Agent', 'curl']]) {
    log?.logAnswered(inbound({ url: `/${raw.join('=')}`, raw }), 200, 0, 1, REVISION)
  }
  t.same(lines, ['/K-Network-Probe=\n', '/User-Agent=curl\n'], 'an empty probe header is not a probe (Go\'s Header.Get != "")')
})

t.test('.TraceID, .Response, the whole input', async (t) => {
  const { log, lines } = logFor('{{.TraceID}}|{{.Response}}|{{printf "%.3f" .Response.Latency}}|{{.Revision}}')
  log?.logAnswered(inbound({ url: '/', raw: ['traceparent', '00-abc', 'X-B3-TraceId', 'b3'] }), 200, 5, 62.5, REVISION)
  log?.logAnswered(inbound({ url: '/', raw: ['X-B3-TraceId', 'b3'] }), 200, 5, 2.5, REVISION)
  t.same(lines, ['abc|{200 5 0.0625}|0.062|{rev ns svc cfg pn ip}\n', 'b3|{200 5 0.0025}|0.003|{rev ns svc cfg pn ip}\n'],
    '%.3f rounds the exact value half to even (0.0625 -> 0.062); 0.0025 is just above its half-way point')
})

t.test('the activator\'s log: no .TraceID, as Knative\'s activator input getter', async (t) => {
  const { log, lines } = logFor('[{{.TraceID}}] {{.Revision.Namespace}}/{{.Revision.Name}}', false, 'activator')
  log?.logAnswered(inbound({ url: '/', raw: ['traceparent', '00-abc-def-01'] }), 200, 0, 1, { ...REVISION, PodName: '', PodIP: '' })
  t.same(lines, ['[] ns/rev\n'])
})

t.test('goSeconds is time.Duration.Seconds of whole nanoseconds', async (t) => {
  t.equal(goSeconds(1.234567), 0.001234567)
  t.equal(goSeconds(1500), 1.5)
  t.equal(goSeconds(0.001), 0.000001)
  t.equal(goSeconds(123456.789123456), 123.456789123)
})
