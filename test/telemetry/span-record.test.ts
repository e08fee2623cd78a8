// SpanRecord (src/telemetry/span-record.ts) against the SDK's own Span: what a span processor and
// an exporter read of a span (ReadableSpan) is the same for the same span, but for the ids and times.
import t from 'tap'
import { context, SpanKind, SpanStatusCode, trace, TraceFlags, type SpanContext } from '@opentelemetry/api'
import { hrTimeDuration, hrTimeToNanoseconds, TraceState } from '@opentelemetry/core'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace'
import { SpanRecord } from '../../src/telemetry/span-record.ts'

const resource = resourceFromAttributes({ 'service.name': 'svc' })
const REMOTE_PARENT: SpanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED, isRemote: true, traceState: new TraceState('k=v') }

/** What an exporter reads of a span, ids and times left out. */
function view (s: ReadableSpan): object {
  const ctx = s.spanContext()
  return {
    name: s.name,
    kind: s.kind,
    traceId: ctx.traceId,
    traceFlags: ctx.traceFlags,
    traceState: ctx.traceState?.serialize(),
    parent: s.parentSpanContext === undefined ? undefined : { spanId: s.parentSpanContext.spanId, isRemote: s.parentSpanContext.isRemote },
    attributes: s.attributes,
    status: s.status,
    links: s.links,
    events: s.events,
    dropped: [s.droppedAttributesCount, s.droppedEventsCount, s.droppedLinksCount],
    ended: s.ended,
    scope: s.instrumentationScope,
    resource: s.resource.attributes,
  }
}

t.test('a record reads as the SDK\'s Span for the same span', async (t) => {
  const cases: Array<[string, string | undefined | null]> = [
    // name, error message (null: no error status)
    ['no status', null],
    ['an error without a message', undefined],
    ['an error with a message', 'context canceled'],
  ]
  for (const [name, error] of cases) {
    const sdkExporter = new InMemorySpanExporter()
    const tp = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter: sdkExporter })] })
    const tracer = tp.getTracer('go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp', '0.69.0')
    const sdkSpan = tracer.startSpan('GET', { kind: SpanKind.SERVER }, trace.setSpanContext(context.active(), REMOTE_PARENT))
    sdkSpan.setAttributes({ 'http.request.method': 'GET', 'server.port': 8080 })
    sdkSpan.setAttribute('http.response.status_code', 503)
    if (error !== null) sdkSpan.setStatus(error === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message: error })
    sdkSpan.end()

    const exporter = new InMemorySpanExporter()
    const record = new SpanRecord('GET', SpanKind.SERVER, REMOTE_PARENT.traceId, 'aaaaaaaaaaaaaaaa', REMOTE_PARENT.traceState, REMOTE_PARENT,
      { 'http.request.method': 'GET', 'server.port': 8080 }, resource, { name: 'go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp', version: '0.69.0', schemaUrl: undefined })
    record.attributes['http.response.status_code'] = 503
    if (error !== null) record.setError(error)
    record.end(new SimpleSpanProcessor({ exporter }))

    const [sdk] = sdkExporter.getFinishedSpans()
    const [ours] = exporter.getFinishedSpans()
    t.ok(sdk !== undefined && ours !== undefined, `${name}: both exported`)
    if (sdk === undefined || ours === undefined) continue
    t.same(view(ours), view(sdk), `${name}: same span as the SDK's`)
    t.equal(ours.spanContext().spanId, 'aaaaaaaaaaaaaaaa')
    await tp.shutdown()
  }
})

t.test('a record is its children\'s parent context; times are wall clock, end >= start, duration = end - start', async (t) => {
  const exporter = new InMemorySpanExporter()
  const processor = new SimpleSpanProcessor({ exporter })
  const scope = { name: 'knative.dev/serving/pkg/queue', version: undefined, schemaUrl: undefined }
  const parent = new SpanRecord('kn.queueproxy.proxy', SpanKind.INTERNAL, REMOTE_PARENT.traceId, '1111111111111111', undefined, undefined, {}, resource, scope)
  const child = new SpanRecord('kn.queueproxy.wait', SpanKind.INTERNAL, REMOTE_PARENT.traceId, '2222222222222222', undefined, parent, {}, resource, scope)
  t.same(parent.endTime, parent.startTime, 'before end() the end time reads as the start')
  child.end(processor)
  parent.end(processor)
  parent.end(processor)
  const spans = exporter.getFinishedSpans()
  t.same(spans.map((s) => s.name), ['kn.queueproxy.wait', 'kn.queueproxy.proxy'], 'each handed over once')
  t.equal(child.parentSpanContext?.spanId, '1111111111111111')
  t.equal(child.parentSpanContext?.isRemote, undefined, 'a local parent')
  t.equal(parent.spanContext().traceFlags, TraceFlags.SAMPLED)
  const nowNs = Date.now() * 1e6
  for (const s of spans) {
    const start = hrTimeToNanoseconds(s.startTime)
    const end = hrTimeToNanoseconds(s.endTime)
    t.ok(start > nowNs - 10e9 && start <= end && end <= nowNs + 1e9, `${s.name}: start <= end, now-ish`)
    t.same(s.duration, hrTimeDuration(s.startTime, s.endTime))
  }
  t.ok(hrTimeToNanoseconds(parent.startTime) <= hrTimeToNanoseconds(child.startTime) && hrTimeToNanoseconds(child.endTime) <= hrTimeToNanoseconds(parent.endTime), 'the child inside its parent')
})
