import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import type { MetricProducer, MetricReader } from '@opentelemetry/sdk-metrics'

// `prometheus`: the exporter is a pull reader with its own HTTP server (GET /metrics), imported by
// otel-telemetry.ts only for that protocol (see grpc-exporters.ts for why a module of ours).

/**
 * Resolves once the exposition listens (host undefined = all interfaces, as Knative's default "").
 * A listener that cannot start (port in use) is reported to `onError` and the process serves on
 * without it, as knative/pkg runs its Prometheus server in a goroutine that only prints the error.
 */
export async function startPrometheusReader (host: string | undefined, port: number, producer: MetricProducer, onError: (err: Error) => void): Promise<MetricReader> {
  const exporter = await new Promise<PrometheusExporter>((resolve) => {
    // The request metrics come from `producer` (request-metrics.ts); the exporter's own sdk-metrics
    // copy reads it through the same MetricProducer interface.
    const e = new PrometheusExporter({ host, port, metricProducers: [producer] }, (err) => {
      if (err !== undefined) onError(err)
      resolve(e)
    })
  })
  // exporter-prometheus pins its own copy of sdk-metrics (2.12.0 beside our 2.12.1): the two
  // MetricReader classes differ only in the declarations of their private fields, and
  // MeterProvider uses a reader through its public methods.
  return exporter as unknown as MetricReader
}
