// OBSERVABILITY_CONFIG's requestMetrics/tracing as queue-proxy's json.Unmarshal reads them, and the
// exporter URL and sampler rules of knative/pkg (endpointFor, sampleFor).
import t from 'tap'
import { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler } from '@opentelemetry/sdk-trace'
import { isTelemetryEnabled, NO_TELEMETRY, splitHostPort, telemetryFromJson } from '../../src/config/telemetry-config.ts'
import { exporterUrl, samplerFor } from '../../src/telemetry/otel-telemetry.ts'

t.test('OBSERVABILITY_CONFIG: Go json rules (case-insensitive keys, null = absent), exportInterval in nanoseconds', async (t) => {
  const problems: string[] = []
  const c = telemetryFromJson({ Protocol: 'grpc', ENDPOINT: 'otel:55678', exportInterval: 30_000_000_000 }, { protocol: 'stdout', samplingRate: null }, problems)
  t.same(problems, [])
  t.same(c, { metrics: { protocol: 'grpc', endpoint: 'otel:55678', exportIntervalMs: 30_000 }, tracing: { protocol: 'stdout', endpoint: '', samplingRate: 0 } })
  t.equal(isTelemetryEnabled(c), true)
  t.same(telemetryFromJson(null, null, []), NO_TELEMETRY, 'absent: none')
  t.equal(isTelemetryEnabled(telemetryFromJson({}, {}, [])), false)
  // Validate is not called by queue-proxy: an endpoint with protocol none, or none with grpc, passes.
  t.same(telemetryFromJson({ protocol: 'grpc' }, { protocol: 'none', endpoint: 'x' }, []).metrics.protocol, 'grpc')
  const bad: string[] = []
  t.same(telemetryFromJson({ exportInterval: 1.5 }, { endpoint: 3 }, bad), NO_TELEMETRY)
  t.same(bad, [
    'config: OBSERVABILITY_CONFIG.requestMetrics.exportInterval must be an integer (a Go time.Duration: nanoseconds), got 1.5',
    'config: OBSERVABILITY_CONFIG.tracing.endpoint must be a string, got 3',
  ])
})

t.test('endpointFor: a scheme-less endpoint gets https://, a URL stays as it is', async (t) => {
  const cases: Array<[string, string]> = [
    ['otel:55678', 'https://otel:55678'],
    ['otel-collector.observability:4317', 'https://otel-collector.observability:4317'],
    ['http://otel:4318/v1/traces', 'http://otel:4318/v1/traces'],
    ['https://otel:4317', 'https://otel:4317'],
  ]
  for (const [endpoint, want] of cases) t.equal(exporterUrl(endpoint), want, endpoint)
})

t.test('sampleFor: >= 1 always, <= 0 never (not parent-based), else parent-based ratio; stdout always', async (t) => {
  t.type(samplerFor({ protocol: 'grpc', endpoint: 'x', samplingRate: 1 }), AlwaysOnSampler)
  t.type(samplerFor({ protocol: 'grpc', endpoint: 'x', samplingRate: 0 }), AlwaysOffSampler)
  t.type(samplerFor({ protocol: 'grpc', endpoint: 'x', samplingRate: 0.25 }), ParentBasedSampler)
  t.match(String(samplerFor({ protocol: 'grpc', endpoint: 'x', samplingRate: 0.25 })), /TraceIdRatioBased\{0\.25\}/)
  t.type(samplerFor({ protocol: 'stdout', endpoint: '', samplingRate: 0 }), AlwaysOnSampler)
})

t.test('net.SplitHostPort', async (t) => {
  t.same(splitHostPort(':9091'), { host: '', port: '9091' })
  t.same(splitHostPort('[::1]:9091'), { host: '::1', port: '9091' })
  t.same(splitHostPort('0.0.0.0:9091'), { host: '0.0.0.0', port: '9091' })
  t.equal(splitHostPort('9091'), null)
  t.equal(splitHostPort('::1:9091'), null)
  t.equal(splitHostPort('[::1'), null)
})
