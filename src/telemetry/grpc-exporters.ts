import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc'
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics'
import type { SpanExporter } from '@opentelemetry/sdk-trace'

// The OTLP/gRPC exporters (they bring @grpc/grpc-js), imported by otel-telemetry.ts only when a
// protocol is `grpc`. A module of ours with static imports, not import() of the packages: they are
// CommonJS, and a CommonJS package that esbuild puts in a chunk of its own is imported as a bare
// default export (scripts/build.mjs), which this static import resolves.

/** `url` undefined: the exporter takes OTEL_EXPORTER_OTLP_[METRICS_|TRACES_]ENDPOINT itself (otel-telemetry.ts endpointFor). */
export function grpcMetricExporter (url: string | undefined): PushMetricExporter {
  return new OTLPMetricExporter(url === undefined ? {} : { url })
}

export function grpcSpanExporter (url: string | undefined): SpanExporter {
  return new OTLPTraceExporter(url === undefined ? {} : { url })
}
