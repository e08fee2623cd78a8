import type { IncomingHttpHeaders } from 'node:http'

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

/** What telemetry reads of an exchange (ProxyExchange has it all; benchmarks pass plain objects). */
export interface TelemetryExchange {
  readonly req: {
    readonly headers: IncomingHttpHeaders
    readonly url?: string | undefined
    readonly httpVersionMajor: number
    readonly httpVersionMinor: number
    readonly socket: { readonly remoteAddress?: string | undefined, readonly remotePort?: number | undefined }
  }
  /** The upstream request: `headers` is the flat name/value list the trace headers are set in. */
  readonly options: { readonly method: string, readonly path: string, readonly headers?: unknown }
  readonly clock: { nowMs (): number }
  readonly startMs: number
  readonly admittedMs: number
  readonly firstByteMs: number
  readonly statusCode: number
  readonly responseBytes: number
  readonly error: Error | null
  readonly errorCode: string | null
  /** The activator's chosen endpoint (a PodTracker: `dest`), unknown here. */
  readonly target: unknown
}

/** One exchange's spans and measurements; made by TelemetryHooks.begin. */
export interface ExchangeTelemetry {
  /**
   * Admission granted, just before the first dispatch: the wait span ends, the client span starts
   * and its W3C traceparent replaces the incoming one in `ex.options.headers`.
   */
  onAdmitted (ex: TelemetryExchange): void
  /** The exchange ended (once, from ProxyExchange.end): spans end, metrics are recorded. */
  onEnd (ex: TelemetryExchange): void
}

export interface TelemetryHooks {
  /** A request became an exchange (probes never do). */
  begin (ex: TelemetryExchange, revision: TelemetryRevision | null): ExchangeTelemetry
  /**
   * Activator (no-op in the sidecar): one revision's concurrency over the period the concurrency
   * reporter just closed, as it reports it to the autoscaler (kn.revision.request.concurrency).
   */
  recordConcurrency (namespace: string, name: string, concurrency: number): void
  /** Activator: the stat pusher's websocket to the autoscaler opened (kn.activator.stats.conn.reachable 1). */
  onAutoscalerConnect (): void
  /** Activator: an open websocket to the autoscaler went down (reachable 0, kn.activator.stats.conn.errors +1). */
  onAutoscalerDisconnect (): void
  /** Flushes what is buffered and stops the exporters (shutdown). */
  shutdown (): Promise<void>
}
