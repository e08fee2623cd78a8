import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc'
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics'
import type { SpanExporter } from '@opentelemetry/sdk-trace'

// The OTLP/gRPC exporters (they bring @grpc/grpc-js), imported by otel-telemetry.ts only when a
// protocol is `grpc`. A module of ours with static imports, not import() of the packages: they are
// CommonJS, and a CommonJS package that esbuild puts in a chunk of its own is imported as a bare
// default export (scripts/build.mjs), which this static import resolves.

export function grpcMetricExporter (url: string): PushMetricExporter {
  return new OTLPMetricExporter({ url })
}

export function grpcSpanExporter (url: string): SpanExporter {
  return new OTLPTraceExporter({ url })
}
