import { isTelemetryEnabled } from '../config/telemetry-config.ts'
import type { TelemetryHooks } from '../proxy/exchange-telemetry.ts'
import type { OtelTelemetryOptions } from './otel-telemetry.ts'

/**
 * The OpenTelemetry hooks when the config exports metrics or traces, else null. The SDK (and, for
 * the chosen protocol only, its exporter) is imported here on first use: a process with telemetry
 * off never loads an @opentelemetry module (test/cli/lazy-loading.test.ts).
 */
export async function loadTelemetry (o: OtelTelemetryOptions): Promise<TelemetryHooks | null> {
  if (!isTelemetryEnabled(o.config)) return null
  const { createOtelTelemetry } = await import('./otel-telemetry.ts')
  return await createOtelTelemetry(o)
}
