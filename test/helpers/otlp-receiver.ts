// A real OTLP receiver for tests: OTLP/HTTP (protobuf bodies on /v1/traces and /v1/metrics) on
// node:http, and optionally OTLP/gRPC (TraceService/Export, MetricsService/Export) on @grpc/grpc-js.
// The payloads are decoded with protobufjs from the OTLP messages below (the subset of
// opentelemetry-proto's collector, trace, metrics, resource and common packages Sluice emits; field
// numbers as upstream), then flattened into plain spans and data points the tests assert on.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'
import { Server as GrpcServer, ServerCredentials, type ServerUnaryCall, type sendUnaryData, type ServiceDefinition } from '@grpc/grpc-js'
import protobuf from 'protobufjs'

const OTLP_PROTO = `
syntax = "proto3";
package otlp;
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
message Resource { repeated KeyValue attributes = 1; }
message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16;
  string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; Status status = 15;
}
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ExportTraceServiceResponse {}
message NumberDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; oneof value { double as_double = 4; sfixed64 as_int = 6; } }
message HistogramDataPoint {
  repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3; fixed64 count = 4;
  optional double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7;
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message Metric { string name = 1; string description = 2; string unit = 3; oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; } }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ExportMetricsServiceResponse {}
`

const root = protobuf.parse(OTLP_PROTO, { keepCase: false }).root
export const TraceRequest = root.lookupType('otlp.ExportTraceServiceRequest')
export const MetricsRequest = root.lookupType('otlp.ExportMetricsServiceRequest')
const TO_OBJECT = { longs: Number, bytes: String, defaults: true, arrays: true, oneofs: true } as const

export type AttrValue = string | number | boolean | null

export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number
  attributes: Record<string, AttrValue>
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number
  statusMessage: string
  scope: string
  scopeVersion: string
  /** W3C tracestate, '' when none. */
  traceState: string
  /** OTLP span flags: W3C trace flags in the low byte, 0x100 has-is-remote, 0x200 the parent is remote. */
  flags: number
  startTimeUnixNano: number
  endTimeUnixNano: number
  resource: Record<string, AttrValue>
}

export interface ReceivedPoint {
  metric: string
  unit: string
  description: string
  type: 'gauge' | 'sum' | 'histogram'
  scope: string
  attributes: Record<string, AttrValue>
  /** gauge / sum value; histogram: the count. */
  value: number
  sum: number
  bounds: number[]
  bucketCounts: number[]
  isMonotonic: boolean
  /** Gauge / sum: which of NumberDataPoint's fields carried the value (a Go Float64* instrument sends as_double); null for histograms. */
  numberType: 'double' | 'int' | null
  resource: Record<string, AttrValue>
}

interface PbKeyValue { key: string, value?: { stringValue?: string, boolValue?: boolean, intValue?: number, doubleValue?: number } | null }

function attrs (list: PbKeyValue[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {}
  for (const kv of list ?? []) {
    const v = kv.value ?? {}
    out[kv.key] = v.stringValue ?? v.intValue ?? v.doubleValue ?? v.boolValue ?? null
  }
  return out
}

function hex (b64: string): string { return Buffer.from(b64, 'base64').toString('hex') }

/** Flattens an ExportTraceServiceRequest body. */
export function decodeSpans (body: Uint8Array): ReceivedSpan[] {
  const msg = TraceRequest.toObject(TraceRequest.decode(body), TO_OBJECT) as { resourceSpans: Array<{ resource?: { attributes: PbKeyValue[] }, scopeSpans: Array<{ scope?: { name: string, version?: string }, spans: Array<Record<string, unknown>> }> }> }
  const out: ReceivedSpan[] = []
  for (const rs of msg.resourceSpans) {
    const resource = attrs(rs.resource?.attributes)
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        const status = (s.status ?? {}) as { code?: number, message?: string }
        out.push({
          traceId: hex(s.traceId as string),
          spanId: hex(s.spanId as string),
          parentSpanId: hex(s.parentSpanId as string),
          name: s.name as string,
          kind: s.kind as number,
          attributes: attrs(s.attributes as PbKeyValue[]),
          statusCode: status.code ?? 0,
          statusMessage: status.message ?? '',
          scope: ss.scope?.name ?? '',
          scopeVersion: ss.scope?.version ?? '',
          traceState: (s.traceState as string | undefined) ?? '',
          flags: (s.flags as number | undefined) ?? 0,
          startTimeUnixNano: (s.startTimeUnixNano as number | undefined) ?? 0,
          endTimeUnixNano: (s.endTimeUnixNano as number | undefined) ?? 0,
          resource,
        })
      }
    }
  }
  return out
}

/** Flattens an ExportMetricsServiceRequest body into one entry per data point. */
export function decodePoints (body: Uint8Array): ReceivedPoint[] {
  const msg = MetricsRequest.toObject(MetricsRequest.decode(body), TO_OBJECT) as { resourceMetrics: Array<{ resource?: { attributes: PbKeyValue[] }, scopeMetrics: Array<{ scope?: { name: string }, metrics: Array<Record<string, unknown>> }> }> }
  const out: ReceivedPoint[] = []
  for (const rm of msg.resourceMetrics) {
    const resource = attrs(rm.resource?.attributes)
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        const base = { metric: m.name as string, unit: m.unit as string, description: m.description as string, scope: sm.scope?.name ?? '', resource }
        const data = m.data as string
        if (data === 'histogram') {
          for (const p of (m.histogram as { dataPoints: Array<Record<string, unknown>> }).dataPoints) {
            out.push({ ...base, type: 'histogram', attributes: attrs(p.attributes as PbKeyValue[]), value: p.count as number, sum: (p.sum as number | undefined) ?? 0, bounds: p.explicitBounds as number[], bucketCounts: p.bucketCounts as number[], isMonotonic: false, numberType: null })
          }
        } else {
          const holder = (data === 'sum' ? m.sum : m.gauge) as { dataPoints: Array<Record<string, unknown>>, isMonotonic?: boolean }
          for (const p of holder.dataPoints) {
            const value = (p.asDouble as number | undefined) ?? (p.asInt as number | undefined) ?? 0
            // oneofs: true names the oneof's set field in `value`.
            const numberType = p.value === 'asDouble' ? 'double' : p.value === 'asInt' ? 'int' : null
            out.push({ ...base, type: data === 'sum' ? 'sum' : 'gauge', attributes: attrs(p.attributes as PbKeyValue[]), value, sum: 0, bounds: [], bucketCounts: [], isMonotonic: holder.isMonotonic === true, numberType })
          }
        }
      }
    }
  }
  return out
}

export interface OtlpReceiver {
  /** http://127.0.0.1:<port> */
  origin: string
  spans: ReceivedSpan[]
  /** Every data point of every export, in arrival order (cumulative: later ones repeat earlier series). */
  points: ReceivedPoint[]
  /** Export requests received: [path, content-type]. */
  requests: Array<[string, string]>
  close (): Promise<void>
}

/** OTLP/HTTP protobuf receiver on 127.0.0.1:0 (closed in teardown). */
export async function startOtlpHttpReceiver (t: { teardown (fn: () => unknown): void }): Promise<OtlpReceiver> {
  const receiver: OtlpReceiver = { origin: '', spans: [], points: [], requests: [], close: async () => {} }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => { chunks.push(c) })
    req.on('end', () => {
      let body = Buffer.concat(chunks)
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body)
      receiver.requests.push([req.url ?? '', req.headers['content-type'] ?? ''])
      try {
        if (req.url === '/v1/traces') receiver.spans.push(...decodeSpans(body))
        else if (req.url === '/v1/metrics') receiver.points.push(...decodePoints(body))
        else { res.writeHead(404).end(); return }
      } catch {
        res.writeHead(400).end()
        return
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  receiver.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  receiver.close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) })
  t.teardown(() => receiver.close())
  return receiver
}

/** The latest cumulative point of a series: metric name and attributes matching `where`. */
export function latestPoint (points: readonly ReceivedPoint[], metric: string, where: Record<string, AttrValue> = {}): ReceivedPoint | undefined {
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i]
    if (p === undefined || p.metric !== metric) continue
    if (Object.entries(where).every(([k, v]) => p.attributes[k] === v)) return p
  }
  return undefined
}

function exportMethod (path: string): ServiceDefinition[string] {
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    // An empty Export*ServiceResponse (no partial_success) is zero bytes.
    responseSerialize: () => Buffer.alloc(0),
    responseDeserialize: (b: Buffer) => b,
  }
}

/** OTLP/gRPC receiver (TraceService/Export, MetricsService/Export) on 127.0.0.1:0, plaintext; `origin` is http://127.0.0.1:<port>. */
export async function startOtlpGrpcReceiver (t: { teardown (fn: () => unknown): void }): Promise<OtlpReceiver> {
  const receiver: OtlpReceiver = { origin: '', spans: [], points: [], requests: [], close: async () => {} }
  const server = new GrpcServer()
  const service: ServiceDefinition = {
    TraceExport: exportMethod('/opentelemetry.proto.collector.trace.v1.TraceService/Export'),
    MetricsExport: exportMethod('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export'),
  }
  server.addService(service, {
    TraceExport: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
      receiver.requests.push(['TraceService/Export', 'application/grpc'])
      receiver.spans.push(...decodeSpans(call.request))
      cb(null, Buffer.alloc(0))
    },
    MetricsExport: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
      receiver.requests.push(['MetricsService/Export', 'application/grpc'])
      receiver.points.push(...decodePoints(call.request))
      cb(null, Buffer.alloc(0))
    },
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => { if (err === null) resolve(p); else reject(err) })
  })
  receiver.origin = `http://127.0.0.1:${port}`
  receiver.close = () => new Promise<void>((resolve) => { server.tryShutdown(() => { resolve() }) })
  t.teardown(() => { server.forceShutdown() })
  return receiver
}
