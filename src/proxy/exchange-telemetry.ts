import type { ProxyExchange } from './proxy-exchange.ts'

// What the request path knows of OpenTelemetry: two small interfaces, no OTel import. The modes hold
// a `TelemetryHooks | null` (null unless OBSERVABILITY_CONFIG / config-observability export
// something), and each exchange a `ExchangeTelemetry | null`: with telemetry off a request pays
// one null check where it starts, where it is admitted and where it ends, and allocates nothing.
// The implementation (src/telemetry/otel-telemetry.ts) is loaded with a dynamic import() only when
// enabled.

/** The revision an activator request was routed to (the attributes Knative's labeler adds); null in the sidecar. */
export interface TelemetryRevision {
  readonly Name: string
  readonly Namespace: string
  readonly Service: string
  readonly Configuration: string
}

/** One exchange's spans and measurements; made by TelemetryHooks.begin. */
export interface ExchangeTelemetry {
  /**
   * Admission granted, just before the first dispatch: the wait span ends, the client span starts
   * and its W3C traceparent replaces the incoming one in `ex.options.headers`.
   */
  onAdmitted (ex: ProxyExchange): void
  /** The exchange ended (once, from ProxyExchange.end): spans end, metrics are recorded. */
  onEnd (ex: ProxyExchange): void
}

export interface TelemetryHooks {
  /** A request became an exchange (probes never do). */
  begin (ex: ProxyExchange, revision: TelemetryRevision | null): ExchangeTelemetry
  /** Flushes what is buffered and stops the exporters (shutdown). */
  shutdown (): Promise<void>
}
