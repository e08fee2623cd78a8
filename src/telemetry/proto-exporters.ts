import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics'
import type { SpanExporter } from '@opentelemetry/sdk-trace'

// The OTLP/HTTP protobuf exporters, imported by otel-telemetry.ts only when a protocol is
// `http/protobuf` (see grpc-exporters.ts for why a module of ours).

/** `url` undefined: the exporter takes OTEL_EXPORTER_OTLP_[METRICS_|TRACES_]ENDPOINT itself (otel-telemetry.ts endpointFor). */
export function protoMetricExporter (url: string | undefined): PushMetricExporter {
  return new OTLPMetricExporter(url === undefined ? {} : { url })
}

export function protoSpanExporter (url: string | undefined): SpanExporter {
  return new OTLPTraceExporter(url === undefined ? {} : { url })
}
