// The activator's OpenTelemetry metrics beside the request metrics, exported to a real OTLP/HTTP
// receiver: kn.revision.request.concurrency from the concurrency reporter's periods (knative/serving
// pkg/activator/handler/metrics.go, concurrency_reporter.go) and kn.activator.stats.conn.* from the
// stat pusher's websocket (pkg/activator/metrics.go, stat_reporter.go); and the OTEL_* variables
// Knative and Go's SDK read that JS's does not, or that an explicit option hides from it
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER[_ARG], OTEL_RESOURCE_ATTRIBUTES, OTEL_METRIC_EXPORT_INTERVAL).
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { WebSocketServer } from 'ws'
import { StatPusher } from '../../src/activator/stat-pusher.ts'
import { AlwaysOffSampler, AlwaysOnSampler } from '@opentelemetry/sdk-trace'
import type { TelemetryConfig, TracingExportConfig } from '../../src/config/telemetry-config.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { loadTelemetry } from '../../src/telemetry/load-telemetry.ts'
import { samplerFor } from '../../src/telemetry/otel-telemetry.ts'
import { activatorResource } from '../../src/telemetry/telemetry-resource.ts'
import { configMapDir, createClient, route, send, spec, startActivator, startFakePod, until } from '../activator/fixtures.ts'
import { latestPoint, startOtlpHttpReceiver, type ReceivedPoint } from '../helpers/otlp-receiver.ts'

const ACTIVATOR_SCOPE = 'knative.dev/serving/pkg/activator'

/** The values a series took across exports, repeats collapsed (cumulative exports repeat the last one). */
function valuesOf (points: readonly ReceivedPoint[], metric: string): number[] {
  const out: number[] = []
  for (const p of points) if (p.metric === metric && out[out.length - 1] !== p.value) out.push(p.value)
  return out
}

function metricsTo (origin: string, exportIntervalMs: number): TelemetryConfig {
  return {
    metrics: { protocol: 'http/protobuf', endpoint: `${origin}/v1/metrics`, exportIntervalMs },
    tracing: { protocol: 'none', endpoint: '', samplingRate: 0 },
  }
}

t.test('kn.revision.request.concurrency: each period\'s concurrency as the autoscaler gets it (poke subtracted), per revision', async (t) => {
  const receiver = await startOtlpHttpReceiver(t)
  const held: ServerResponse[] = []
  const pod = await startFakePod(t, (_req, res) => { held.push(res) })
  const dir = configMapDir(t, { 'metrics-protocol': 'http/protobuf', 'metrics-endpoint': `${receiver.origin}/v1/metrics`, 'metrics-export-interval': '100ms' })
  const clock = new ManualClock()
  const { activator, url } = await startActivator(t, ['--source', 'api', '--observability-config-dir', dir], { clock })
  // The test closes the periods, on the manual clock.
  activator.reporter.stop()
  activator.registry.upsert(spec('busy', [pod.dest], 0))
  await until(() => activator.registry.lookup('default', 'busy')?.readyCount === 1)
  const client = createClient(t)
  const replies = [1, 2, 3].map(async () => await send(client, url, { path: '/', headers: route('busy') }))
  await until(() => held.length === 3, 3_000, 'three requests at the pod')
  const gauge = (): ReceivedPoint | undefined => latestPoint(receiver.points, 'kn.revision.request.concurrency', { 'kn.revision.name': 'busy' })

  // Three in flight for the whole period; the first request's poke (1) is subtracted, as Knative does.
  clock.advance(1_000)
  activator.reporter.report()
  await until(() => gauge()?.value === 2, 3_000, 'concurrency 2')
  clock.advance(1_000)
  activator.reporter.report()
  await until(() => gauge()?.value === 3, 3_000, 'concurrency 3')
  for (const res of held) res.end('done')
  for (const r of await Promise.all(replies)) t.equal(r.status, 200)
  clock.advance(1_000)
  activator.reporter.report()
  await until(() => gauge()?.value === 0, 3_000, 'concurrency 0')
  t.same(valuesOf(receiver.points, 'kn.revision.request.concurrency'), [2, 3, 0], 'one value per period')

  const p = gauge()
  t.equal(p?.type, 'gauge')
  t.equal(p?.numberType, 'double', 'a Float64Gauge')
  t.equal(p?.unit, '{request}')
  t.equal(p?.description, 'Concurrent requests that are routed to Activator')
  t.equal(p?.scope, ACTIVATOR_SCOPE)
  t.same(p?.attributes, { 'kn.service.name': '', 'kn.configuration.name': '', 'kn.revision.name': 'busy', 'k8s.namespace.name': 'default' })
  t.match(p?.resource, { 'service.name': 'activator', 'k8s.pod.name': 'activator-test' })
})

t.test('kn.revision.request.concurrency: nothing is recorded for a revision without requests', async (t) => {
  const receiver = await startOtlpHttpReceiver(t)
  const pod = await startFakePod(t)
  const dir = configMapDir(t, { 'metrics-protocol': 'http/protobuf', 'metrics-endpoint': `${receiver.origin}/v1/metrics`, 'metrics-export-interval': '1h' })
  const clock = new ManualClock()
  const { activator, url } = await startActivator(t, ['--source', 'api', '--observability-config-dir', dir], { clock })
  activator.reporter.stop()
  activator.registry.upsert(spec('idle', [pod.dest], 0))
  activator.registry.upsert(spec('used', [pod.dest], 0))
  await until(() => activator.registry.lookup('default', 'used')?.readyCount === 1)
  t.equal((await send(createClient(t), url, { path: '/', headers: route('used') })).status, 200)
  clock.advance(1_000)
  activator.reporter.report()
  await activator.close() // the final export
  t.ok(latestPoint(receiver.points, 'kn.revision.request.concurrency', { 'kn.revision.name': 'used' }), 'the revision with a request has a point')
  t.notOk(latestPoint(receiver.points, 'kn.revision.request.concurrency', { 'kn.revision.name': 'idle' }), 'Knative records only the revisions in its stats map')
})

t.test('kn.activator.stats.conn.*: reachable 1 -> 0 -> 1 -> 0 as the autoscaler goes and comes back; errors count the lost connections, not the failed dials', async (t) => {
  const receiver = await startOtlpHttpReceiver(t)
  const telemetry = await loadTelemetry({
    site: 'activator',
    config: metricsTo(receiver.origin, 100),
    resource: activatorResource('knative-serving', 'activator-test'),
    prometheus: null,
    inFlight: null,
    upstreamHost: '',
    upstreamPort: 0,
    writeLine: () => {},
    logger: silentLogger(),
  })
  if (telemetry === null) throw new Error('telemetry should be on')
  t.teardown(() => telemetry.shutdown())
  const listen = async (): Promise<WebSocketServer> => {
    const wss = new WebSocketServer({ port, host: '127.0.0.1' })
    await new Promise((resolve) => { wss.once('listening', resolve) })
    return wss
  }
  const stop = (wss: WebSocketServer): Promise<void> => {
    for (const c of wss.clients) c.terminate()
    return new Promise((resolve) => { wss.close(() => { resolve() }) })
  }
  let port = 0
  let wss = await listen()
  port = (wss.address() as AddressInfo).port
  t.teardown(() => stop(wss))
  const pusher = new StatPusher({ url: `ws://127.0.0.1:${port}/`, protocol: 'knative' })
  t.teardown(() => pusher.close())
  pusher.start()
  await until(() => pusher.connected, 3_000, 'connected')
  // OpenTelemetry loads after the pusher dialled (cli/activator.ts): an open socket is reported at once.
  pusher.observe(telemetry)
  const reachable = (): ReceivedPoint | undefined => latestPoint(receiver.points, 'kn.activator.stats.conn.reachable')
  const errors = (): ReceivedPoint | undefined => latestPoint(receiver.points, 'kn.activator.stats.conn.errors')
  await until(() => reachable()?.value === 1, 3_000, 'reachable 1')
  t.equal(errors(), undefined, 'no error series before a disconnect')

  // The autoscaler goes; while it is away, dials are refused (503 on the upgrade), which are not disconnects.
  await stop(wss)
  let refused = 0
  const refuser = createServer()
  refuser.on('upgrade', (_req, socket) => { refused++; socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n') })
  await new Promise<void>((resolve) => { refuser.listen(port, '127.0.0.1', resolve) })
  await until(() => reachable()?.value === 0, 3_000, 'reachable 0')
  await until(() => refused >= 2, 5_000, 'two refused dials')
  t.equal(pusher.connected, false)
  await new Promise<void>((resolve) => { refuser.close(() => { resolve() }) })
  wss = await listen()
  await until(() => reachable()?.value === 1, 5_000, 'reachable 1 again')
  t.equal(errors()?.value, 1, 'one lost connection, however many dials failed')

  // Closing an open socket ends it as knative.dev/pkg's Shutdown does: OnDisconnect runs.
  await pusher.close()
  await until(() => reachable()?.value === 0, 3_000, 'reachable 0 after close')
  t.equal(errors()?.value, 2)
  t.same(valuesOf(receiver.points, 'kn.activator.stats.conn.reachable'), [1, 0, 1, 0])

  const r = reachable()
  t.equal(r?.type, 'gauge')
  t.equal(r?.numberType, 'int', 'an Int64Gauge')
  t.equal(r?.unit, '{reachable}')
  t.equal(r?.description, 'Whether a peer is reachable from the activator (1 = reachable, 0 = not reachable)')
  t.equal(r?.scope, ACTIVATOR_SCOPE)
  t.same(r?.attributes, { peer: 'autoscaler' })
  const e = errors()
  t.equal(e?.type, 'sum')
  t.equal(e?.isMonotonic, true, 'an Int64Counter')
  t.equal(e?.numberType, 'int')
  t.equal(e?.unit, '{error}')
  t.equal(e?.description, 'Number of connection errors from the activator')
  t.same(e?.attributes, { peer: 'autoscaler' })
})

/** Sets OTEL_* variables for one test (the SDK reads them), restored in teardown. */
function withEnv (t: { teardown (fn: () => unknown): void }, keys: readonly string[]): (values: Record<string, string | undefined>) => void {
  const saved = keys.map((k) => [k, process.env[k]] as const)
  t.teardown(() => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  })
  return (values) => {
    for (const k of keys) {
      const v = values[k]
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

t.test('OTEL_METRIC_EXPORT_INTERVAL wins over the config\'s export interval (knative/pkg intervalFor)', async (t) => {
  const receiver = await startOtlpHttpReceiver(t)
  const setEnv = withEnv(t, ['OTEL_METRIC_EXPORT_INTERVAL'])
  const start = async (): Promise<void> => {
    const telemetry = await loadTelemetry({
      site: 'activator', config: metricsTo(receiver.origin, 3_600_000), resource: activatorResource('knative-serving', 'activator-test'),
      prometheus: null, inFlight: null, upstreamHost: '', upstreamPort: 0, writeLine: () => {}, logger: silentLogger(),
    })
    if (telemetry === null) throw new Error('telemetry should be on')
    t.teardown(() => telemetry.shutdown())
    telemetry.onAutoscalerConnect()
  }
  setEnv({ OTEL_METRIC_EXPORT_INTERVAL: '50' })
  await start()
  await until(() => receiver.points.length > 0, 3_000, 'an export before shutdown')
  t.ok(receiver.requests.length >= 1, 'exported every 50 ms, not once an hour')
})

t.test('OTEL_EXPORTER_OTLP_ENDPOINT replaces the configured endpoint (knative/pkg endpointFor); the SDK appends /v1/metrics', async (t) => {
  const receiver = await startOtlpHttpReceiver(t)
  const setEnv = withEnv(t, ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'])
  setEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.origin })
  // Port 9 (discard) on loopback: nothing listens, so only the environment's endpoint can receive.
  const telemetry = await loadTelemetry({
    site: 'activator', config: { metrics: { protocol: 'http/protobuf', endpoint: 'http://127.0.0.1:9/v1/metrics', exportIntervalMs: 3_600_000 }, tracing: { protocol: 'none', endpoint: '', samplingRate: 0 } },
    resource: activatorResource('knative-serving', 'activator-test'), prometheus: null, inFlight: null, upstreamHost: '', upstreamPort: 0, writeLine: () => {}, logger: silentLogger(),
  })
  if (telemetry === null) throw new Error('telemetry should be on')
  telemetry.onAutoscalerConnect()
  await telemetry.shutdown()
  t.same(receiver.requests.map(([path]) => path), ['/v1/metrics'])
  t.equal(latestPoint(receiver.points, 'kn.activator.stats.conn.reachable')?.value, 1)
})

t.test('OTEL_TRACES_SAMPLER hands the sampler to the environment; OTEL_TRACES_SAMPLER_ARG overrides the rate Knative compares with 1', async (t) => {
  const setEnv = withEnv(t, ['OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG'])
  const grpc = (samplingRate: number): TracingExportConfig => ({ protocol: 'grpc', endpoint: 'http://c:4317', samplingRate })
  setEnv({ OTEL_TRACES_SAMPLER: 'always_off' })
  t.type(samplerFor(grpc(1)), AlwaysOffSampler, 'the environment\'s sampler over the config\'s rate 1')
  setEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })
  t.match(String(samplerFor(grpc(1))), /ParentBased\{root=TraceIdRatioBased\{0\.25\}/)
  setEnv({ OTEL_TRACES_SAMPLER: 'no_such_sampler' })
  t.match(String(samplerFor(grpc(0))), /ParentBased\{root=AlwaysOnSampler/, 'an unknown name: the SDK\'s default')
  setEnv({ OTEL_TRACES_SAMPLER_ARG: '1' })
  t.type(samplerFor(grpc(0.1)), AlwaysOnSampler, 'ARG >= 1 samples everything')
  setEnv({ OTEL_TRACES_SAMPLER_ARG: '0.5' })
  t.match(String(samplerFor(grpc(0.1))), /TraceIdRatioBased\{0\.1\}/, 'below 1 the ratio stays the configured one, as Knative\'s code reads')
  setEnv({ OTEL_TRACES_SAMPLER_ARG: 'half' })
  t.throws(() => samplerFor(grpc(0.1)), /unable to parse sample rate override/, 'Knative\'s provider fails at start')
  setEnv({})
  t.match(String(samplerFor(grpc(0.1))), /TraceIdRatioBased\{0\.1\}/, 'without them, the config')
})

t.test('the resource takes OTEL_RESOURCE_ATTRIBUTES under Knative\'s own attributes, and OTEL_SERVICE_NAME over service.name (Go\'s resource.Default)', async (t) => {
  const receiver = await startOtlpHttpReceiver(t)
  const setEnv = withEnv(t, ['OTEL_RESOURCE_ATTRIBUTES', 'OTEL_SERVICE_NAME'])
  const resourceWith = async (attrs: string, name: string | undefined): Promise<Record<string, unknown>> => {
    setEnv({ OTEL_RESOURCE_ATTRIBUTES: attrs, OTEL_SERVICE_NAME: name })
    const before = receiver.points.length
    const telemetry = await loadTelemetry({
      site: 'activator', config: metricsTo(receiver.origin, 3_600_000), resource: activatorResource('knative-serving', 'activator-test'),
      prometheus: null, inFlight: null, upstreamHost: '', upstreamPort: 0, writeLine: () => {}, logger: silentLogger(),
    })
    if (telemetry === null) throw new Error('telemetry should be on')
    telemetry.onAutoscalerConnect()
    await telemetry.shutdown() // the final export
    const p = receiver.points.slice(before).find((x) => x.metric === 'kn.activator.stats.conn.reachable')
    return p?.resource ?? {}
  }
  const r1 = await resourceWith('deployment.environment.name=staging,k8s.namespace.name=elsewhere,service.name=from-attrs', undefined)
  t.equal(r1['deployment.environment.name'], 'staging', 'an attribute only the environment sets is kept')
  t.equal(r1['k8s.namespace.name'], 'knative-serving', 'Knative\'s attributes win over the environment\'s')
  t.equal(r1['service.name'], 'activator', 'service.name in OTEL_RESOURCE_ATTRIBUTES does not replace Knative\'s')
  t.equal(r1['telemetry.sdk.language'], 'nodejs', 'the SDK\'s own attributes stay')
  const r2 = await resourceWith('', 'my-activator')
  t.equal(r2['service.name'], 'my-activator', 'OTEL_SERVICE_NAME does')
})
