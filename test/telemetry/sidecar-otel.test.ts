// OpenTelemetry from a real sidecar process (bin/sluice sidecar) to a real OTLP/HTTP receiver, in
// front of a real app: what Knative's queue-proxy emits (names, units, attributes, buckets, span
// tree, resource), traceparent to the app, sampling, the Prometheus exposition, config errors.
// Spans and the last metrics are flushed when the sidecar stops (SIGTERM), so the tests stop it
// and then read what arrived: no waiting for export intervals.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { pickFreePorts } from '../../src/local/free-port.ts'
import { childEnv, send, until } from '../helpers/sidecar-fixture.ts'
import { makeCa, makeLeaf, SKIP_WITHOUT_OPENSSL } from '../helpers/test-certs.ts'
import { latestPoint, startOtlpHttpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts'

const BIN = fileURLToPath(new URL('../../bin/sluice', import.meta.url))
const LATENCY_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
const PARENT_TRACE = '0af7651916cd43dd8448eb211c80319c'
const PARENT_SPAN = 'b7ad6b7169203331'

interface Running { child: ChildProcess, port: number, stdout: () => string, appHeaders: IncomingHttpHeaders[] }

/** An app that answers `/status/<code>` with that code and records the headers it got. */
async function startApp (t: Test): Promise<{ port: number, headers: IncomingHttpHeaders[] }> {
  const headers: IncomingHttpHeaders[] = []
  const server = createServer((req, res) => {
    headers.push(req.headers)
    const m = /^\/status\/(\d+)/.exec(req.url ?? '')
    res.writeHead(m === null ? 200 : Number(m[1]), { 'content-type': 'text/plain' })
    req.resume()
    req.on('end', () => { res.end('hello') })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { port: (server.address() as AddressInfo).port, headers }
}

async function startSidecar (t: Test, o11y: object, env: Record<string, string> = {}): Promise<Running> {
  const app = await startApp(t)
  const child = spawn(process.execPath, [BIN, 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0'], {
    env: childEnv({ USER_PORT: String(app.port), CONTAINER_CONCURRENCY: '4', SERVING_NAMESPACE: 'ns1', SERVING_SERVICE: 'svc', SERVING_CONFIGURATION: 'cfg', SERVING_REVISION: 'rev-1', SERVING_POD: 'rev-1-pod', OBSERVABILITY_CONFIG: JSON.stringify(o11y), ...env }),
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { out += s })
  await until(() => out.includes('"sidecar listening"'), 15_000, 'sidecar listening')
  const line = out.split('\n').find((l) => l.includes('"sidecar listening"')) ?? '{}'
  const port = (JSON.parse(line) as { ports: { serving: number } }).ports.serving
  // Ready once the TCP probe of the app passed (a kubelet probe: not traced, not measured).
  const probe = { 'user-agent': 'kube-probe/1.31', 'k-network-probe': 'queue' }
  await until(() => out.includes('startup probe passed'), 10_000, 'ready')
  t.equal((await send(`http://127.0.0.1:${port}/`, { headers: probe })).status, 200, 'kubelet probe answered')
  return { child, port, stdout: () => out, appHeaders: app.headers }
}

async function stop (r: Running): Promise<number | null> {
  r.child.kill('SIGTERM')
  return await new Promise((resolve) => { r.child.once('exit', (code) => { resolve(code) }) })
}

function o11yTo (receiver: OtlpReceiver, samplingRate: number): object {
  return {
    requestMetrics: { protocol: 'http/protobuf', endpoint: `${receiver.origin}/v1/metrics` },
    tracing: { protocol: 'http/protobuf', endpoint: `${receiver.origin}/v1/traces`, samplingRate },
  }
}

function traceparentOf (h: IncomingHttpHeaders | undefined): string[] {
  const v = h?.traceparent
  return typeof v === 'string' ? v.split('-') : []
}

t.test('queue-proxy\'s spans and metrics reach an OTLP/HTTP receiver; traceparent reaches the app in the same trace', async (t) => {
  const receiver = await startOtlpHttpReceiver(t)
  const r = await startSidecar(t, o11yTo(receiver, 1))
  const base = `http://127.0.0.1:${r.port}`
  const ok = await send(`${base}/hello?x=1`, { headers: { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01`, 'user-agent': 'otel-test' } })
  t.equal(ok.status, 200)
  t.equal((await send(`${base}/status/503`, { method: 'POST', body: 'abcd' })).status, 503)
  t.equal(await stop(r), 0, 'clean exit after flushing')

  // traceparent: same trace, our client span as parent, sampled.
  const [version, traceId, parentId, flags] = traceparentOf(r.appHeaders[0])
  t.equal(version, '00')
  t.equal(traceId, PARENT_TRACE, 'the app sees the caller\'s trace id')
  t.not(parentId, PARENT_SPAN, 'with the sidecar\'s client span as parent')
  t.equal(flags, '01')

  const inTrace = receiver.spans.filter((s) => s.traceId === PARENT_TRACE)
  const byName = new Map(inTrace.map((s) => [s.name, s]))
  t.same([...byName.keys()].sort(), ['GET', 'HTTP GET', 'kn.queueproxy.proxy', 'kn.queueproxy.wait'], 'otelhttp server and client spans, Knative\'s proxy and wait spans')
  const server = byName.get('GET') as ReceivedSpan
  const proxy = byName.get('kn.queueproxy.proxy') as ReceivedSpan
  const wait = byName.get('kn.queueproxy.wait') as ReceivedSpan
  const client = byName.get('HTTP GET') as ReceivedSpan
  t.equal(server.parentSpanId, PARENT_SPAN, 'the server span continues the incoming trace')
  t.equal(server.kind, 2)
  t.equal(proxy.parentSpanId, server.spanId)
  t.equal(wait.parentSpanId, proxy.spanId)
  t.equal(client.parentSpanId, proxy.spanId)
  t.equal(client.kind, 3)
  t.equal(client.spanId, parentId, 'the app\'s traceparent names the client span')
  t.equal(server.scope, 'go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp')
  t.equal(proxy.scope, 'knative.dev/serving/pkg/queue')
  t.equal(server.scopeVersion, '0.69.0', 'otelhttp\'s version on its scope')
  t.equal(proxy.scopeVersion, '', 'Knative\'s tracer has no version')
  // W3C sampled (0x01) + has-is-remote (0x100), + is-remote (0x200) where the parent came in a header.
  t.same([server.flags, proxy.flags, wait.flags, client.flags], [0x301, 0x101, 0x101, 0x101], 'span flags')
  t.equal(server.traceState, '', 'no tracestate came in, none recorded')
  // Wall-clock nanoseconds, each span inside its parent (the wait ends as the client starts).
  const nowNs = Date.now() * 1e6
  for (const s of [server, proxy, wait, client]) {
    t.ok(s.startTimeUnixNano > nowNs - 60e9 && s.startTimeUnixNano <= s.endTimeUnixNano && s.endTimeUnixNano <= nowNs + 1e9, `${s.name}: start <= end, both now-ish`)
  }
  t.ok(server.startTimeUnixNano <= proxy.startTimeUnixNano && proxy.endTimeUnixNano <= server.endTimeUnixNano, 'proxy inside server')
  t.ok(proxy.startTimeUnixNano <= wait.startTimeUnixNano && wait.endTimeUnixNano <= client.startTimeUnixNano, 'wait before client')
  t.ok(client.endTimeUnixNano <= proxy.endTimeUnixNano, 'client inside proxy')
  t.match(server.attributes, {
    'http.request.method': 'GET', 'url.scheme': 'http', 'server.address': '127.0.0.1', 'server.port': r.port,
    'network.peer.address': '127.0.0.1', 'user_agent.original': 'otel-test', 'client.address': '127.0.0.1',
    'url.path': '/hello', 'network.protocol.version': '1.1', 'http.response.status_code': 200, 'http.response.body.size': 5,
  })
  t.match(client.attributes, { 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'http.response.status_code': 200 })
  t.match(String(client.attributes['url.full']), /^http:\/\/127\.0\.0\.1:\d+\/hello\?x=1$/)
  t.match(server.resource, {
    'container.name': 'queue-proxy', 'k8s.namespace.name': 'ns1', 'k8s.pod.name': 'rev-1-pod', 'service.name': 'svc',
    'service.instance.id': 'rev-1-pod', 'kn.service.name': 'svc', 'kn.configuration.name': 'cfg', 'kn.revision.name': 'rev-1',
    'telemetry.sdk.name': 'opentelemetry',
  })
  const failed = receiver.spans.find((s) => s.name === 'POST')
  t.equal(failed?.statusCode, 2, 'a 5xx server span has status Error')
  t.equal(failed?.attributes['http.request.body.size'], 4)
  t.notOk(receiver.spans.some((s) => s.attributes['user_agent.original'] === 'kube-probe/1.31'), 'probes are not traced')

  const duration = latestPoint(receiver.points, 'http.server.request.duration', { 'http.response.status_code': 200 })
  t.ok(duration, 'http.server.request.duration')
  t.equal(duration?.unit, 's')
  t.equal(duration?.type, 'histogram')
  t.same(duration?.bounds, LATENCY_BOUNDS, 'otelhttp\'s buckets')
  t.equal(duration?.value, 1, 'one 200 request (the probe not counted)')
  t.same(duration?.attributes, {
    'http.request.method': 'GET', 'url.scheme': 'http', 'server.address': '127.0.0.1', 'server.port': r.port,
    'network.protocol.name': 'http', 'network.protocol.version': '1.1', 'http.response.status_code': 200,
  })
  t.equal(latestPoint(receiver.points, 'http.server.request.duration', { 'http.response.status_code': 503, 'http.request.method': 'POST' })?.value, 1)
  const invocation = latestPoint(receiver.points, 'kn.serving.invocation.duration', { 'http.response.status_code': 503 })
  t.equal(invocation?.unit, 's')
  t.equal(invocation?.scope, 'knative.dev/serving/pkg/queue')
  t.same(invocation?.bounds, LATENCY_BOUNDS, 'Knative\'s latencyBounds')
  t.same(Object.keys(invocation?.attributes ?? {}), ['http.response.status_code'])
  const depth = latestPoint(receiver.points, 'kn.serving.queue.depth')
  t.equal(depth?.type, 'gauge')
  t.equal(depth?.unit, '{request}')
  t.equal(depth?.value, 1, 'the breaker\'s in-flight count as the request was admitted')
  t.equal(latestPoint(receiver.points, 'http.server.request.body.size', { 'http.request.method': 'POST' })?.sum, 4)
  t.equal(latestPoint(receiver.points, 'http.server.response.body.size', { 'http.response.status_code': 200 })?.unit, 'By')
  t.ok(latestPoint(receiver.points, 'http.client.request.duration', { 'http.response.status_code': 200 }), 'the client side, as otelhttp\'s transport')
  t.same([...new Set(receiver.requests.map(([path, type]) => `${path} ${type}`))].sort(), ['/v1/metrics application/x-protobuf', '/v1/traces application/x-protobuf'])
})

t.test('sampling: 0 exports nothing, 1 everything, a ratio follows a parent\'s decision', async (t) => {
  const cases: Array<[string, number, string, boolean]> = [
    // name, samplingRate, traceparent flags, exported
    ['rate 0 ignores even a sampled parent (NeverSample, not parent-based)', 0, '01', false],
    ['rate 1 samples an unsampled parent\'s trace (AlwaysSample)', 1, '00', true],
    ['rate 0.5 follows a sampled parent', 0.5, '01', true],
    ['rate 0.5 follows an unsampled parent', 0.5, '00', false],
  ]
  for (const [name, rate, flags, exported] of cases) {
    const receiver = await startOtlpHttpReceiver(t)
    const r = await startSidecar(t, { tracing: { protocol: 'http/protobuf', endpoint: `${receiver.origin}/v1/traces`, samplingRate: rate } })
    t.equal((await send(`http://127.0.0.1:${r.port}/`, { headers: { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-${flags}` } })).status, 200)
    t.equal(await stop(r), 0)
    t.equal(receiver.spans.some((s) => s.traceId === PARENT_TRACE), exported, name)
    const [, traceId, , sent] = traceparentOf(r.appHeaders[0])
    t.equal(traceId, PARENT_TRACE, `${name}: the trace id reaches the app either way`)
    t.equal(sent, exported ? '01' : '00', `${name}: with the decision in its flags`)
    t.same(receiver.points, [], `${name}: no metrics configured, none sent`)
  }
})

t.test('tracestate goes on to the app and into sampled spans; an unsampled request sends a new span id and records nothing', async (t) => {
  const tracestate = 'vendor=a1,other=b2'
  const cases: Array<[string, number, string, boolean]> = [
    // name, samplingRate, incoming flags, exported
    ['sampled', 1, '01', true],
    ['unsampled parent at a ratio', 0.5, '00', false],
  ]
  for (const [name, rate, flags, exported] of cases) {
    const receiver = await startOtlpHttpReceiver(t)
    const r = await startSidecar(t, { tracing: { protocol: 'http/protobuf', endpoint: `${receiver.origin}/v1/traces`, samplingRate: rate } })
    t.equal((await send(`http://127.0.0.1:${r.port}/`, { headers: { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-${flags}`, tracestate } })).status, 200)
    t.equal(await stop(r), 0)
    const [version, traceId, spanId, sent] = traceparentOf(r.appHeaders[0])
    t.same([version, traceId, sent], ['00', PARENT_TRACE, flags], `${name}: version, the caller's trace, its decision`)
    t.match(spanId, /^[0-9a-f]{16}$/)
    t.not(spanId, PARENT_SPAN, `${name}: a span id of the sidecar's, not the caller's`)
    t.equal(r.appHeaders[0]?.tracestate, tracestate, `${name}: tracestate passed on`)
    t.equal(receiver.spans.length, exported ? 4 : 0, `${name}: spans exported`)
    if (exported) {
      t.same(receiver.spans.map((s) => s.traceState), [tracestate, tracestate, tracestate, tracestate], 'every span carries it')
      t.equal(receiver.spans.find((s) => s.name === 'HTTP GET')?.spanId, spanId, 'the app\'s parent is the client span')
    }
  }
  // A root not sampled (a ratio that in practice never samples): a new trace, flags 00, per request.
  const receiver = await startOtlpHttpReceiver(t)
  const r = await startSidecar(t, { tracing: { protocol: 'http/protobuf', endpoint: `${receiver.origin}/v1/traces`, samplingRate: 1e-9 } })
  for (let i = 0; i < 3; i++) t.equal((await send(`http://127.0.0.1:${r.port}/`)).status, 200)
  t.equal(await stop(r), 0)
  const sent = r.appHeaders.map(traceparentOf)
  t.equal(sent.length, 3)
  for (const [version, traceId, spanId, flags] of sent) {
    t.same([version, flags], ['00', '00'])
    t.match(traceId, /^[0-9a-f]{32}$/)
    t.match(spanId, /^[0-9a-f]{16}$/)
  }
  t.equal(new Set(sent.map((p) => p[1])).size, 3, 'a trace per request')
  t.equal(r.appHeaders[0]?.tracestate, undefined, 'no tracestate made up')
  t.equal(receiver.spans.length, 0, 'nothing exported')
})

t.test('no traceparent: the sidecar starts a trace and hands it to the app; the request log\'s .TraceID is the incoming one', async (t) => {
  const receiver = await startOtlpHttpReceiver(t)
  const r = await startSidecar(t, { ...o11yTo(receiver, 1), enableRequestLog: true, requestLogTemplate: 'trace={{.TraceID}}' })
  await send(`http://127.0.0.1:${r.port}/a`)
  await send(`http://127.0.0.1:${r.port}/b`, { headers: { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01` } })
  t.equal(await stop(r), 0)
  const [, traceId] = traceparentOf(r.appHeaders[0])
  t.match(traceId, /^[0-9a-f]{32}$/)
  t.ok(receiver.spans.some((s) => s.name === 'GET' && s.traceId === traceId && s.parentSpanId === ''), 'a root server span of that trace')
  // Knative's ExtractTraceID reads the request's own headers: empty without one, as queue-proxy logs it.
  const lines = r.stdout().split('\n').filter((l) => l.startsWith('trace='))
  t.same(lines, ['trace=', `trace=${PARENT_TRACE}`])
})

t.test('requestMetrics prometheus: the exposition on the endpoint, names with Go\'s unit suffixes', async (t) => {
  const [port] = await pickFreePorts(1)
  const r = await startSidecar(t, { requestMetrics: { protocol: 'prometheus', endpoint: `127.0.0.1:${port}` } })
  t.equal((await send(`http://127.0.0.1:${r.port}/x`)).status, 200)
  t.equal((await send(`http://127.0.0.1:${r.port}/status/404`)).status, 404)
  const scrape = await send(`http://127.0.0.1:${port}/metrics`)
  t.equal(scrape.status, 200)
  t.match(scrape.body, /^# HELP kn_serving_invocation_duration_seconds The duration of task execution$/m)
  t.match(scrape.body, /^kn_serving_invocation_duration_seconds_bucket\{http_response_status_code="404",[^}]*le="0\.005"\} /m)
  t.match(scrape.body, /^http_server_request_duration_seconds_count\{[^}]*http_response_status_code="200"[^}]*\} 1$/m)
  t.match(scrape.body, /^kn_serving_queue_depth\{[^}]*\} 1$/m)
  t.match(scrape.body, /^target_info\{[^}]*container_name="queue-proxy"/m)
  t.equal(await stop(r), 0)
})

t.test('tracing stdout: one JSON span per line on stdout', async (t) => {
  const r = await startSidecar(t, { tracing: { protocol: 'stdout' } })
  await send(`http://127.0.0.1:${r.port}/s`, { headers: { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-00` } })
  t.equal(await stop(r), 0)
  const spans = r.stdout().split('\n').filter((l) => l.startsWith('{"Name"')).map((l) => JSON.parse(l) as { Name: string, SpanContext: { TraceID: string } })
  t.same(spans.map((s) => s.Name).sort(), ['GET', 'HTTP GET', 'kn.queueproxy.proxy', 'kn.queueproxy.wait'], 'sampled although the parent was not: stdout always samples')
  t.ok(spans.every((s) => s.SpanContext.TraceID === PARENT_TRACE))
})

t.test('config errors where queue-proxy dies: exit 2 and one line', async (t) => {
  const cases: Array<[object, RegExp]> = [
    [{ requestMetrics: { protocol: 'statsd' } }, /^config: OBSERVABILITY_CONFIG\.requestMetrics: Failed to setup meter provider: error creating reader: unsupported metric exporter: "statsd"$/],
    [{ tracing: { protocol: 'zipkin' } }, /^config: OBSERVABILITY_CONFIG\.tracing: Failed to setup trace provider: error creating tracer exporter: unsupported metric exporter: "zipkin"$/],
    [{ requestMetrics: { protocol: 'prometheus', endpoint: '9091' } }, /metrics-endpoint "9091" for prometheus exporter should be "host:port"/],
    [{ tracing: { protocol: 'grpc', samplingRate: '1' } }, /^config: OBSERVABILITY_CONFIG\.tracing\.samplingRate must be a number, got "1"$/],
    [{ requestMetrics: { protocol: 'grpc', exportInterval: '30s' } }, /^config: OBSERVABILITY_CONFIG\.requestMetrics\.exportInterval must be a number/],
  ]
  for (const [o11y, want] of cases) {
    const child = spawn(process.execPath, [BIN, 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0'], {
      env: childEnv({ USER_PORT: '8080', OBSERVABILITY_CONFIG: JSON.stringify(o11y) }), stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    const code = await new Promise<number | null>((resolve) => { child.on('close', resolve) })
    t.equal(code, 2, JSON.stringify(o11y))
    const lines = stderr.trim().split('\n')
    t.equal(lines.length, 1, 'one line')
    t.match(lines[0], want)
  }
})

t.test('a collector that is down: requests are served, and the sidecar still stops cleanly', async (t) => {
  const [closedPort] = await pickFreePorts(1)
  const down = `http://127.0.0.1:${closedPort}`
  const r = await startSidecar(t, {
    requestMetrics: { protocol: 'http/protobuf', endpoint: `${down}/v1/metrics`, exportInterval: 50_000_000 },
    tracing: { protocol: 'http/protobuf', endpoint: `${down}/v1/traces`, samplingRate: 1 },
  })
  for (let i = 0; i < 3; i++) t.equal((await send(`http://127.0.0.1:${r.port}/`)).status, 200, `request ${i} served`)
  t.equal(await stop(r), 0, 'the failed final exports do not fail the shutdown')
  t.match(traceparentOf(r.appHeaders[0])[1], /^[0-9a-f]{32}$/, 'traces still propagate')
})

t.test('the Prometheus port already taken: one error line, the sidecar serves on (knative/pkg only prints it)', async (t) => {
  const taken = createServer()
  await new Promise<void>((resolve) => { taken.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { taken.close() })
  const port = (taken.address() as AddressInfo).port
  const r = await startSidecar(t, { requestMetrics: { protocol: 'prometheus', endpoint: `127.0.0.1:${port}` } })
  t.equal((await send(`http://127.0.0.1:${r.port}/`)).status, 200)
  const errors = r.stdout().split('\n').filter((l) => l.includes('"metrics server error"'))
  t.equal(errors.length, 1)
  t.match(errors[0], /"level":"error".*EADDRINUSE/)
  t.equal(await stop(r), 0)
})

/** One GET over HTTP(S); `error` is the socket or TLS error's code when there is no response. */
async function get (url: string, tls: { ca?: Buffer, cert?: Buffer, key?: Buffer } = {}, method = 'GET'): Promise<{ status: number, body: string, headers: IncomingHttpHeaders } | { error: string }> {
  const mod = url.startsWith('https:') ? httpsRequest : httpRequest
  return await new Promise((resolve) => {
    const req = mod(url, { method, ...tls, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (s: string) => { body += s })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body, headers: res.headers }) })
    })
    req.on('error', (err: NodeJS.ErrnoException) => { resolve({ error: err.code ?? err.message }) })
    req.end()
  })
}

t.test('METRICS_PROMETHEUS_PORT and _HOST win over the endpoint; GET /metrics only, as Go\'s mux', async (t) => {
  const [endpointPort, envPort] = await pickFreePorts(2)
  const r = await startSidecar(t, { requestMetrics: { protocol: 'prometheus', endpoint: `[::1]:${endpointPort}` } }, { METRICS_PROMETHEUS_PORT: String(envPort), METRICS_PROMETHEUS_HOST: '127.0.0.1' })
  t.equal((await send(`http://127.0.0.1:${r.port}/x`)).status, 200)
  t.match(await get(`http://127.0.0.1:${endpointPort}/metrics`), { error: 'ECONNREFUSED' }, 'not on the endpoint\'s port')
  t.match(await get(`http://[::1]:${envPort}/metrics`), { error: 'ECONNREFUSED' }, 'nor on the endpoint\'s host')
  const scrape = await get(`http://127.0.0.1:${envPort}/metrics?x=1`)
  t.match(scrape, { status: 200, body: /^http_server_request_duration_seconds_count\{[^}]*\} 1$/m })
  t.match(await get(`http://127.0.0.1:${envPort}/metrics/`), { status: 404, body: '404 page not found\n' })
  t.match(await get(`http://127.0.0.1:${envPort}/`), { status: 404 })
  t.match(await get(`http://127.0.0.1:${envPort}/metrics`, {}, 'POST'), { status: 405, headers: { allow: 'GET, HEAD' } })
  t.equal(await stop(r), 0)
})

t.test('METRICS_PROMETHEUS_TLS_*: HTTPS exposition; client certificates required or optional', { skip: SKIP_WITHOUT_OPENSSL }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-prom-tls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const serverCa = makeCa(dir, 'server-ca')
  const server = makeLeaf(dir, serverCa, 'server', ['localhost'])
  const clientCa = makeCa(dir, 'client-ca')
  const client = makeLeaf(dir, clientCa, 'scraper', ['scraper'])
  const stranger = makeLeaf(dir, makeCa(dir, 'other-ca'), 'stranger', ['stranger'])
  writeFileSync(join(dir, 'tls.crt'), server.cert)
  writeFileSync(join(dir, 'tls.key'), server.key)
  writeFileSync(join(dir, 'clients.crt'), clientCa.cert)
  const tlsEnv = { METRICS_PROMETHEUS_TLS_CERT: join(dir, 'tls.crt'), METRICS_PROMETHEUS_TLS_KEY: join(dir, 'tls.key'), METRICS_PROMETHEUS_TLS_CLIENT_CA_FILE: join(dir, 'clients.crt') }
  for (const auth of ['require', 'optional'] as const) {
    const [port] = await pickFreePorts(1)
    const r = await startSidecar(t, { requestMetrics: { protocol: 'prometheus', endpoint: `127.0.0.1:${port}` } }, { ...tlsEnv, METRICS_PROMETHEUS_TLS_CLIENT_AUTH: auth })
    t.equal((await send(`http://127.0.0.1:${r.port}/x`)).status, 200)
    const url = `https://127.0.0.1:${port}/metrics`
    t.match(await get(url, { ca: serverCa.cert, cert: client.cert, key: client.key }), { status: 200, body: /^http_server_request_duration_seconds_count\{/m }, `${auth}: a client certificate from the CA is let in`)
    t.match(await get(url, { ca: serverCa.cert, cert: stranger.cert, key: stranger.key }), { error: /./ }, `${auth}: one from another CA is not`)
    if (auth === 'require') t.match(await get(url, { ca: serverCa.cert }), { error: /./ }, 'require: none at all is not')
    else t.match(await get(url, { ca: serverCa.cert }), { status: 200 }, 'optional: none at all is fine')
    t.match(await get(`http://127.0.0.1:${port}/metrics`), { error: /./ }, 'no plain HTTP on it')
    t.equal(await stop(r), 0)
  }
})

t.test('a certificate that cannot be read: one error line, the sidecar serves on (Go only prints ListenAndServeTLS\'s error)', async (t) => {
  const [port] = await pickFreePorts(1)
  const r = await startSidecar(t, { requestMetrics: { protocol: 'prometheus', endpoint: `127.0.0.1:${port}` } }, { METRICS_PROMETHEUS_TLS_CERT: '/nonexistent/tls.crt', METRICS_PROMETHEUS_TLS_KEY: '/nonexistent/tls.key' })
  t.equal((await send(`http://127.0.0.1:${r.port}/`)).status, 200)
  const errors = r.stdout().split('\n').filter((l) => l.includes('"metrics server error"'))
  t.equal(errors.length, 1)
  t.match(errors[0], /"level":"error".*ENOENT.*"tls":true/)
  t.match(await get(`https://127.0.0.1:${port}/metrics`), { error: 'ECONNREFUSED' })
  t.equal(await stop(r), 0)
})

t.test('METRICS_PROMETHEUS_* that knative/pkg refuses: exit 2 and one line', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ METRICS_PROMETHEUS_PORT: '80' }, 'config: create prometheus metrics server: prometheus port 80, should be between 1024 and 65535'],
    [{ METRICS_PROMETHEUS_TLS_CERT: '/x.crt' }, 'config: create prometheus metrics server: both METRICS_PROMETHEUS_TLS_CERT and METRICS_PROMETHEUS_TLS_KEY must be set or neither'],
  ]
  for (const [env, want] of cases) {
    const child = spawn(process.execPath, [BIN, 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0'], {
      env: childEnv({ USER_PORT: '8080', OBSERVABILITY_CONFIG: JSON.stringify({ requestMetrics: { protocol: 'prometheus' } }), ...env }), stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    const code = await new Promise<number | null>((resolve) => { child.on('close', resolve) })
    t.equal(code, 2, JSON.stringify(env))
    t.same(stderr.trim().split('\n'), [want])
  }
})
