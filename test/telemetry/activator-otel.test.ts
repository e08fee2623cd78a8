// OpenTelemetry from a real activator (listening on real ports, in front of a real pod) configured
// by a mounted config-observability, as Knative's activator reads it: its span tree with the
// revision's labels, traceparent to the pod, its request metrics; OTLP over HTTP and over gRPC;
// the ConfigMap's metrics-* / tracing-* keys validated with knative/pkg's words, fatal at start,
// rejecting an update.
import t, { type Test } from 'tap'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { parseObservabilityConfigMapUpdate } from '../../src/config/observability-configmap.ts'
import { goDurationString, telemetryFromConfigMap } from '../../src/config/telemetry-config.ts'
import { configMapDir, createClient, route, send, spec, startActivator, startFakePod, until } from '../activator/fixtures.ts'
import { latestPoint, startOtlpGrpcReceiver, startOtlpHttpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts'

const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT_SPAN = '00f067aa0ba902b7'

async function exercise (t: Test, keys: Record<string, string>): Promise<{ podTraceparent: string }> {
  const pod = await startFakePod(t, (_req, res) => { res.end('hi from the pod') })
  const dir = configMapDir(t, keys)
  const { activator, url } = await startActivator(t, ['--source', 'api', '--observability-config-dir', dir], {}, { SYSTEM_NAMESPACE: 'knative-serving' })
  activator.registry.upsert(spec('otel', [pod.dest], 1))
  await until(() => activator.registry.lookup('default', 'otel')?.readyCount === 1)
  const client = createClient(t)
  const reply = await send(client, url, { path: '/work?id=7', headers: route('otel', { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01` }) })
  t.equal(reply.status, 200)
  t.equal(reply.body, 'hi from the pod')
  await activator.close() // flushes the batched spans and exports the metrics once more
  const tp = pod.lastHeaders?.traceparent
  return { podTraceparent: typeof tp === 'string' ? tp : '' }
}

function checkExport (t: Test, receiver: OtlpReceiver, podTraceparent: string): void {
  const [, traceId, parentId, flags] = podTraceparent.split('-')
  t.equal(traceId, PARENT_TRACE, 'the pod gets the caller\'s trace')
  t.equal(flags, '01')
  const spans = new Map(receiver.spans.filter((s) => s.traceId === PARENT_TRACE).map((s) => [s.name, s]))
  t.same([...spans.keys()].sort(), ['GET', 'GET /work', 'activator_proxy', 'throttler_try'], 'Knative\'s activator spans')
  const server = spans.get('GET') as ReceivedSpan
  const tryS = spans.get('throttler_try') as ReceivedSpan
  const proxy = spans.get('activator_proxy') as ReceivedSpan
  const clientS = spans.get('GET /work') as ReceivedSpan
  t.equal(server.parentSpanId, PARENT_SPAN)
  t.equal(tryS.parentSpanId, server.spanId)
  t.equal(proxy.parentSpanId, server.spanId, 'activator_proxy starts from the request\'s context, beside throttler_try')
  t.equal(clientS.parentSpanId, proxy.spanId)
  t.equal(clientS.spanId, parentId, 'the pod\'s traceparent names the client span')
  t.equal(tryS.scope, 'knative.dev/serving/pkg/activator')
  t.match(server.attributes, { 'kn.revision.name': 'otel', 'k8s.namespace.name': 'default', 'kn.service.name': '', 'kn.configuration.name': '', 'http.response.status_code': 200, 'url.path': '/work' })
  t.match(server.resource, { 'service.name': 'activator', 'k8s.namespace.name': 'knative-serving', 'k8s.pod.name': 'activator-test' })
  const duration = latestPoint(receiver.points, 'http.server.request.duration', { 'kn.revision.name': 'otel' })
  t.equal(duration?.value, 1, 'one request')
  t.same(Object.keys(duration?.attributes ?? {}), [
    'kn.service.name', 'kn.configuration.name', 'kn.revision.name', 'k8s.namespace.name',
    'http.request.method', 'url.scheme', 'server.address', 'server.port', 'network.protocol.name', 'network.protocol.version', 'http.response.status_code',
  ], 'the labeler\'s attributes first, then otelhttp\'s')
  for (const name of ['kn.revision.request.queued', 'kn.revision.request.active']) {
    const p = latestPoint(receiver.points, name, { 'kn.revision.name': 'otel', 'k8s.namespace.name': 'default' })
    t.equal(p?.type, 'sum', `${name} is an up-down counter`)
    t.equal(p?.isMonotonic, false)
    t.equal(p?.value, 0, `${name} is back to 0 once the request is done`)
    t.equal(p?.unit, '{request}')
  }
  t.notOk(receiver.points.some((p) => p.metric.startsWith('http.client.')), 'no client metrics: Knative\'s activator transport has only a tracer')
}

t.test('OTLP/HTTP: the activator\'s spans, traceparent to the pod, its request metrics', async (t) => {
  const receiver = await startOtlpHttpReceiver(t)
  const { podTraceparent } = await exercise(t, {
    'tracing-protocol': 'http/protobuf', 'tracing-endpoint': `${receiver.origin}/v1/traces`, 'tracing-sampling-rate': '1',
    'metrics-protocol': 'http/protobuf', 'metrics-endpoint': `${receiver.origin}/v1/metrics`, 'metrics-export-interval': '1h',
  })
  checkExport(t, receiver, podTraceparent)
})

t.test('OTLP/gRPC: the same over grpc-js', async (t) => {
  const receiver = await startOtlpGrpcReceiver(t)
  const { podTraceparent } = await exercise(t, {
    'tracing-protocol': 'grpc', 'tracing-endpoint': receiver.origin, 'tracing-sampling-rate': '1',
    'metrics-protocol': 'grpc', 'metrics-endpoint': receiver.origin,
  })
  checkExport(t, receiver, podTraceparent)
  t.same([...new Set(receiver.requests.map(([path]) => path))].sort(), ['MetricsService/Export', 'TraceService/Export'])
})

t.test('the ConfigMap\'s keys as knative/pkg parses and validates them', async (t) => {
  const problemsOf = (data: Record<string, string>): string[] => {
    const problems: string[] = []
    telemetryFromConfigMap(new Map(Object.entries(data)), problems)
    return problems
  }
  const cases: Array<[Record<string, string>, string]> = [
    [{ 'metrics-protocol': 'grpc' }, 'config-observability: metrics-*: endpoint should be set when protocol is "grpc"'],
    [{ 'metrics-endpoint': 'x:1' }, 'config-observability: metrics-*: endpoint should not be set when protocol is "none"'],
    [{ 'metrics-protocol': 'statsd' }, 'config-observability: metrics-*: unsupported protocol "statsd"'],
    [{ 'metrics-protocol': 'prometheus', 'metrics-export-interval': '-90s' }, 'config-observability: metrics-*: export interval "-1m30s" should be greater than zero'],
    [{ 'metrics-export-interval': 'soon' }, 'config-observability: failed to parse "metrics-export-interval": time: invalid duration "soon"'],
    [{ 'request-metrics-protocol': 'http/protobuf' }, 'config-observability: request-metrics-*: endpoint should be set when protocol is "http/protobuf"'],
    [{ 'tracing-protocol': 'http/protobuf' }, 'config-observability: tracing-*: endpoint should be set for protocol "http/protobuf"'],
    [{ 'tracing-protocol': 'stdout', 'tracing-endpoint': 'x' }, 'config-observability: tracing-*: endpoint should not be set when protocol is \'none\''],
    [{ 'tracing-protocol': 'zipkin' }, 'config-observability: tracing-*: unsupported protocol "zipkin"'],
    [{ 'tracing-sampling-rate': '1.5' }, 'config-observability: tracing-*: sampling rate 1.500000 should be less than or equal to one'],
    [{ 'tracing-sampling-rate': '-0.1' }, 'config-observability: tracing-*: sampling rate -0.100000 should be greater or equal to zero'],
    [{ 'tracing-sampling-rate': 'half' }, 'config-observability: failed to parse "tracing-sampling-rate": strconv.ParseFloat: parsing "half": invalid syntax'],
    [{ 'metrics-protocol': 'prometheus', 'metrics-endpoint': '9090' }, 'config-observability: metrics-*: Failed to setup meter provider: error creating reader: metrics-endpoint "9090" for prometheus exporter should be "host:port", "host%zone:port", "[host]:port" or "[host%zone]:port"'],
    // NewFromMap's order: tracing first, and the first error ends it.
    [{ 'tracing-protocol': 'zipkin', 'metrics-protocol': 'statsd' }, 'config-observability: tracing-*: unsupported protocol "zipkin"'],
  ]
  for (const [data, want] of cases) t.same(problemsOf(data), [want], JSON.stringify(data))
  t.same(problemsOf({ 'metrics-protocol': ' prometheus ', 'tracing-protocol': 'grpc', 'tracing-endpoint': ' http://c:4317 ', 'tracing-sampling-rate': '0.25' }), [], 'values trimmed as configmap.As does')
  const ok = telemetryFromConfigMap(new Map([['metrics-protocol', 'http/protobuf'], ['metrics-endpoint', 'c:4318'], ['metrics-export-interval', '1m30s'], ['tracing-protocol', 'stdout']]), [])
  t.same(ok, { metrics: { protocol: 'http/protobuf', endpoint: 'c:4318', exportIntervalMs: 90_000 }, tracing: { protocol: 'stdout', endpoint: '', samplingRate: 0 } })
  t.same(['0s', '1ns', '1.5µs', '2ms', '1s', '1m30s', '2h0m0.5s', '-3s'], [0n, 1n, 1500n, 2_000_000n, 1_000_000_000n, 90_000_000_000n, 7_200_500_000_000n, -3_000_000_000n].map(goDurationString), 'Go\'s Duration.String')
})

t.test('start with invalid keys: one config line (Knative\'s activator dies); an update with them is rejected', async (t) => {
  const bad = configMapDir(t, { 'tracing-protocol': 'grpc' })
  t.same(loadActivatorConfig(['--source', 'api', '--observability-config-dir', bad], {}).problems, ['config-observability: tracing-*: endpoint should be set for protocol "grpc"'])
  const update: string[] = []
  parseObservabilityConfigMapUpdate(new Map([['logging.enable-request-log', 'true'], ['metrics-protocol', 'grpc']]), update)
  t.same(update, ['config-observability: metrics-*: endpoint should be set when protocol is "grpc"'], 'the update is rejected, so the previous request log stays')
  const prom = configMapDir(t, { 'metrics-protocol': 'prometheus' })
  t.match(loadActivatorConfig(['--source', 'api', '--observability-config-dir', prom], {}).problems, [/request metrics over prometheus listen on port 9090 .*which --metrics-port also uses/], 'Knative\'s 9090 is Sluice\'s metrics port by default')
  t.same(loadActivatorConfig(['--source', 'api', '--observability-config-dir', prom, '--metrics-port', '9095'], {}).problems, [])
  t.match(loadActivatorConfig(['--source', 'api'], { OBSERVABILITY_CONFIG: '{"tracing":{"protocol":"jaeger"}}' }).problems, [/unsupported metric exporter: "jaeger"/], 'the env form as the sidecar\'s')
})
