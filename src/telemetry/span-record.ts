import { SpanStatusCode, type Attributes, type HrTime, type Link, type SpanContext, type SpanKind, type SpanStatus } from '@opentelemetry/api'
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
// (docs/observability.md "Cost"). A record is one object plus its attribute map and two HrTimes.
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

export class SpanRecord implements ReadableSpan {
  readonly name: string
  readonly kind: SpanKind
  readonly context: SpanContext
  readonly parentSpanContext: SpanContext | undefined
  readonly startTime: HrTime
  endTime: HrTime
  status: SpanStatus
  /** Owned by the record: set in its constructor, added to until end(). */
  readonly attributes: Attributes
  readonly links: Link[]
  readonly events: TimedEvent[]
  duration: HrTime
  ended: boolean
  readonly resource: Resource
  readonly instrumentationScope: InstrumentationScope
  readonly droppedAttributesCount: number
  readonly droppedEventsCount: number
  readonly droppedLinksCount: number

  constructor (name: string, kind: SpanKind, context: SpanContext, parent: SpanContext | undefined, attributes: Attributes, resource: Resource, scope: InstrumentationScope) {
    this.name = name
    this.kind = kind
    this.context = context
    this.parentSpanContext = parent
    this.startTime = hrTime()
    this.endTime = this.startTime
    this.status = UNSET
    this.attributes = attributes
    this.links = NO_LINKS
    this.events = NO_EVENTS
    this.duration = [0, 0]
    this.ended = false
    this.resource = resource
    this.instrumentationScope = scope
    this.droppedAttributesCount = 0
    this.droppedEventsCount = 0
    this.droppedLinksCount = 0
  }

  spanContext (): SpanContext {
    return this.context
  }

  /** An error status, as Span.setStatus({ code: ERROR, message }) records it. */
  setError (message: string | undefined): void {
    this.status = message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message }
  }

  /** Ends the span (once) and hands it to the processor, as Span.end() does. */
  end (processor: SpanProcessor): void {
    if (this.ended) return
    this.endTime = hrTime()
    const duration = hrTimeDuration(this.startTime, this.endTime)
    // As the SDK's Span: a clock that went backwards gives a zero duration, not a negative one.
    if (duration[0] < 0) {
      this.endTime = this.startTime
      this.duration = [0, 0]
    } else {
      this.duration = duration
    }
    this.ended = true
    processor.onEnd(this)
  }
}
