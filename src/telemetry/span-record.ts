import { SpanStatusCode, TraceFlags, type Attributes, type HrTime, type Link, type SpanContext, type SpanKind, type SpanStatus, type TraceState } from '@opentelemetry/api'
import { hrTime, hrTimeDuration, type InstrumentationScope } from '@opentelemetry/core'
import type { Resource } from '@opentelemetry/resources'
import type { ReadableSpan, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace'

// One sampled span as the SDK's processors and exporters read it (ReadableSpan), recorded by
// otel-telemetry.ts instead of through the SDK's Tracer and Span (as the request metrics are
// aggregated by request-metrics.ts instead of through SDK instruments). Why: a sampled request
// makes four spans, and an SDK Span carries a limits object, a processor, performance offsets, a
// links array, an events array and a status object each, and runs a sampler, an id generator, a
// context lookup and attribute validation per span; under load with the image's 1 MB semi-space
// these objects outlive a scavenge while queued for export and fill the old generation
// (docs/observability.md "Cost").
//
// What the SDK's Span would do and a record does not, and why it makes no difference here:
// - span limits (128 attributes, no length limit: sdk-trace's TracerProvider defaults, which it
//   does not read from the environment): our spans carry at most 15 attributes;
// - attribute validation: every value set here is a string or a number;
// - setStatus's rules (UNSET ignored, OK final): only ERROR is ever set, once;
// - onStart / onEnding: BatchSpanProcessor does nothing on them.
// The BatchSpanProcessor, the exporters (OTLP/HTTP, OTLP/gRPC, stdout) and their encoding are the
// SDK's, unchanged; test/telemetry/*-otel.test.ts decode what a real OTLP receiver gets.

const NO_LINKS: Link[] = []
const NO_EVENTS: TimedEvent[] = []
const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET })

/**
 * A sampled span, and its own SpanContext (spanContext() returns the record: a child's
 * parentSpanContext is its parent record). What is the same for every span (links, events, the
 * dropped counts, the sampled flag) is on the prototype, and times are kept as performance.now()
 * milliseconds and turned into HrTime when an exporter reads them (twice per span: the serializer
 * sizes, then writes): a queued span is one object, its attribute map and its span id.
 */
export class SpanRecord implements ReadableSpan, SpanContext {
  readonly name: string
  readonly kind: SpanKind
  readonly traceId: string
  readonly spanId: string
  readonly traceState: TraceState | undefined
  readonly parentSpanContext: SpanContext | undefined
  /** performance.now() at start and at end() (-1 until then): monotonic, so end >= start. */
  readonly startMs: number
  endMs: number
  status: SpanStatus
  /** Owned by the record (or a shared frozen empty map for spans that get none): added to until end(). */
  readonly attributes: Attributes
  ended: boolean
  readonly resource: Resource
  readonly instrumentationScope: InstrumentationScope

  constructor (name: string, kind: SpanKind, traceId: string, spanId: string, traceState: TraceState | undefined, parent: SpanContext | undefined, attributes: Attributes, resource: Resource, scope: InstrumentationScope) {
    this.name = name
    this.kind = kind
    this.traceId = traceId
    this.spanId = spanId
    this.traceState = traceState
    this.parentSpanContext = parent
    this.startMs = performance.now()
    this.endMs = -1
    this.status = UNSET
    this.attributes = attributes
    this.ended = false
    this.resource = resource
    this.instrumentationScope = scope
  }

  /** Only sampled spans are recorded. */
  get traceFlags (): number { return TraceFlags.SAMPLED }
  get startTime (): HrTime { return hrTime(this.startMs) }
  get endTime (): HrTime { return hrTime(this.ended ? this.endMs : this.startMs) }
  get duration (): HrTime { return hrTimeDuration(this.startTime, this.endTime) }
  get links (): Link[] { return NO_LINKS }
  get events (): TimedEvent[] { return NO_EVENTS }
  get droppedAttributesCount (): number { return 0 }
  get droppedEventsCount (): number { return 0 }
  get droppedLinksCount (): number { return 0 }

  spanContext (): SpanContext {
    return this
  }

  /** An error status, as Span.setStatus({ code: ERROR, message }) records it. */
  setError (message: string | undefined): void {
    this.status = message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message }
  }

  /** Ends the span (once) and hands it to the processor, as Span.end() does. */
  end (processor: SpanProcessor): void {
    if (this.ended) return
    this.endMs = performance.now()
    this.ended = true
    processor.onEnd(this)
  }
}
