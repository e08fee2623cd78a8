// One scenario: the CPU OpenTelemetry costs per request in the sidecar, without sockets: the
// telemetry hooks (src/telemetry/otel-telemetry.ts: begin, onAdmitted, onEnd) for a finished
// exchange, with Sluice recording the metrics and spans (request-metrics.ts, span-record.ts) and
// the SDK's reader, batch span processor and OTLP/HTTP protobuf exporters sending them to a sink in
// the parent process (so span serialization and the export requests count). The event loop turns every 100 exchanges, so the batch processor exports as it would
// under load. CPU = process.cpuUsage() of the child (user + system) / exchanges. Variants:
//   metrics       requestMetrics only (10 s export interval)
//   trace-1.0     tracing only, sampling 1.0 (4 spans per request, all exported)
//   trace-0.1     tracing only, sampling 0.1 (root spans: 1 in 10 sampled)
//   both-1.0      both, sampling 1.0 (sluice-cc10-otel in sidecar.bench.ts)
//   both-0.1      both, sampling 0.1 (sluice-cc10-otel-0.1)
// Each variant runs in its own child process. The macro figure is sidecar.bench.ts's
// (`--only sluice-cc10,sluice-cc10-otel,sluice-cc10-otel-0.1`); this one isolates the telemetry's
// own work from the proxy's and from the kernel's, which the 2 shared cores make noisy.
//
//   npx node loadtest/micro/otel-exchange.bench.ts             # all variants, prints a table
//   npx node loadtest/micro/otel-exchange.bench.ts trace-1.0   # one variant, SINK=http://... (prints JSON)

import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { NO_METRICS, NO_TRACING, type TelemetryConfig } from '../../src/config/telemetry-config.ts'
import type { TelemetryExchange } from '../../src/proxy/exchange-telemetry.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { loadTelemetry } from '../../src/telemetry/load-telemetry.ts'

const ROUND_MS = 2_000
const ROUNDS = 5
const CHUNK = 100

const VARIANTS: Readonly<Record<string, { metrics: boolean, rate: number | null }>> = {
  metrics: { metrics: true, rate: null },
  'trace-1.0': { metrics: false, rate: 1 },
  'trace-0.1': { metrics: false, rate: 0.1 },
  'both-1.0': { metrics: true, rate: 1 },
  'both-0.1': { metrics: true, rate: 0.1 },
}

interface Result { variant: string, cpuUsPerRequest: number, requests: number }

let nowMs = 0
const CLOCK = { nowMs: () => nowMs }

/** A finished GET through a CC=10 sidecar, as ProxyExchange would describe it. */
class BenchExchange implements TelemetryExchange {
  readonly req = {
    headers: { host: 'app.ns.svc.cluster.local', 'user-agent': 'wrk', 'x-forwarded-for': '10.1.2.3' },
    url: '/api/items?page=2',
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    socket: { remoteAddress: '10.1.2.3', remotePort: 54321 },
  }
  readonly options = { method: 'GET', path: '/api/items?page=2', headers: ['host', 'app.ns.svc.cluster.local', 'user-agent', 'wrk', 'x-forwarded-for', '10.1.2.3, 127.0.0.1'] }
  readonly clock = CLOCK
  readonly startMs = nowMs
  admittedMs = -1
  firstByteMs = -1
  statusCode = 0
  responseBytes = 0
  readonly error = null
  readonly errorCode = null
  readonly target = null
}

async function runVariant (variant: string, sink: string): Promise<Result> {
  const v = VARIANTS[variant]
  if (v === undefined) throw new Error(`unknown variant ${variant}`)
  const config: TelemetryConfig = {
    metrics: v.metrics ? { protocol: 'http/protobuf', endpoint: `${sink}/v1/metrics`, exportIntervalMs: 10_000 } : NO_METRICS,
    tracing: v.rate === null ? NO_TRACING : { protocol: 'http/protobuf', endpoint: `${sink}/v1/traces`, samplingRate: v.rate },
  }
  const hooks = await loadTelemetry({ site: 'queue-proxy', config, resource: { 'service.name': 'bench' }, prometheus: null, inFlight: () => 3, upstreamHost: '127.0.0.1', upstreamPort: 8080, writeLine: () => {}, logger: silentLogger() })
  if (hooks === null) throw new Error('telemetry off')
  const perRound: number[] = []
  let requests = 0
  for (let round = 0; round < ROUNDS; round++) {
    const cpu = process.cpuUsage()
    const end = performance.now() + ROUND_MS
    let n = 0
    while (performance.now() < end) {
      for (let i = 0; i < CHUNK; i++) {
        const ex = new BenchExchange()
        const t = hooks.begin(ex, null)
        nowMs += 0.01
        ex.admittedMs = nowMs
        t.onAdmitted(ex)
        nowMs += 0.2
        ex.firstByteMs = nowMs
        ex.statusCode = 200
        ex.responseBytes = 1024
        t.onEnd(ex)
      }
      n += CHUNK
      await new Promise((resolve) => { setImmediate(resolve) })
    }
    const used = process.cpuUsage(cpu)
    perRound.push((used.user + used.system) / n)
    requests += n
  }
  await hooks.shutdown()
  // The first round is warm-up (tiering up, the exporters' first connections).
  const rest = perRound.slice(1).sort((a, b) => a - b)
  return { variant, cpuUsPerRequest: rest[Math.floor(rest.length / 2)] ?? Number.NaN, requests }
}

const arg = process.argv[2]
if (arg !== undefined && Object.hasOwn(VARIANTS, arg)) {
  process.stdout.write(JSON.stringify(await runVariant(arg, process.env.SINK ?? '')) + '\n')
} else {
  // The sink: reads each export and answers 200, in this process (not the measured child).
  let exports = 0
  const server = createServer((req, res) => { req.resume(); req.on('end', () => { exports++; res.writeHead(200, { 'content-length': '0' }).end() }) })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const sink = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const self = fileURLToPath(import.meta.url)
  process.stdout.write(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}\n\n| variant | CPU us per request | requests | exports |\n|---|---:|---:|---:|\n`)
  for (const variant of Object.keys(VARIANTS)) {
    const before = exports
    const out = await new Promise<string>((resolve, reject) => {
      // Async: the sink in this process must keep answering while the child runs.
      execFile(process.execPath, [self, variant], { env: { ...process.env, SINK: sink }, encoding: 'utf8' }, (err, stdout) => { if (err === null) resolve(stdout); else reject(err) })
    })
    const parsed = JSON.parse(out) as Result
    process.stdout.write(`| ${variant} | ${parsed.cpuUsPerRequest.toFixed(2)} | ${parsed.requests} | ${exports - before} |\n`)
  }
  server.close()
}
