import { ExportResultCode, hrTimeToNanoseconds, type ExportResult } from '@opentelemetry/core'
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace'

// `tracing.protocol: stdout`: Knative uses Go's stdouttrace exporter, which prints each span as JSON
// (its SpanStub fields). This writes the same fields, one span per line, through the line writer
// (stdout), never console.*.

export class StdoutSpanExporter implements SpanExporter {
  readonly #write: (line: string) => void

  constructor (write: (line: string) => void) {
    this.#write = write
  }

  export (spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    let out = ''
    for (const s of spans) {
      const ctx = s.spanContext()
      out += JSON.stringify({
        Name: s.name,
        SpanContext: { TraceID: ctx.traceId, SpanID: ctx.spanId, TraceFlags: ctx.traceFlags.toString(16).padStart(2, '0'), TraceState: ctx.traceState?.serialize() ?? '', Remote: false },
        Parent: s.parentSpanContext === undefined
          ? { TraceID: '00000000000000000000000000000000', SpanID: '0000000000000000', TraceFlags: '00', TraceState: '', Remote: false }
          : { TraceID: s.parentSpanContext.traceId, SpanID: s.parentSpanContext.spanId, TraceFlags: s.parentSpanContext.traceFlags.toString(16).padStart(2, '0'), TraceState: '', Remote: s.parentSpanContext.isRemote === true },
        SpanKind: s.kind + 1, // Go's SpanKind numbers Internal as 1, the API as 0
        StartTime: new Date(hrTimeToNanoseconds(s.startTime) / 1e6).toISOString(),
        EndTime: new Date(hrTimeToNanoseconds(s.endTime) / 1e6).toISOString(),
        Attributes: Object.entries(s.attributes).map(([Key, Value]) => ({ Key, Value: { Type: typeof Value === 'number' ? (Number.isInteger(Value) ? 'INT64' : 'FLOAT64') : typeof Value === 'boolean' ? 'BOOL' : 'STRING', Value } })),
        Status: { Code: ['Unset', 'Ok', 'Error'][s.status.code] ?? 'Unset', Description: s.status.message ?? '' },
        Resource: Object.entries(s.resource.attributes).map(([Key, Value]) => ({ Key, Value: { Type: typeof Value === 'number' ? 'INT64' : 'STRING', Value } })),
        InstrumentationScope: { Name: s.instrumentationScope.name, Version: s.instrumentationScope.version ?? '', SchemaURL: s.instrumentationScope.schemaUrl ?? '' },
      }) + '\n'
    }
    if (out !== '') this.#write(out)
    resultCallback({ code: ExportResultCode.SUCCESS })
  }

  async shutdown (): Promise<void> {}
}
