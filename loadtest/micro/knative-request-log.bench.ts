// One scenario: the cost of Knative's request log per request (OBSERVABILITY_CONFIG), rendering
// the operator's Go template for a finished request and handing the line to a writer that drops
// it (stdout itself is not measured). Variants:
//   default  Knative's default template (config/core/configmaps/observability.yaml)
//   header   a template reading the header map and printf: `{{index .Request.Header "X-B3-Traceid"}} {{printf "%s %d %.3f" ...}}`
//   url      `{{.Request.URL}} {{.Response.Code}}`
//   control  with, range with two variables, if/else and a comparison (the full template language)
// Each variant runs in its own child process, so each sees monomorphic call sites.
//
//   npx node loadtest/micro/knative-request-log.bench.ts           # all variants, prints a table
//   npx node loadtest/micro/knative-request-log.bench.ts default   # one variant, prints one JSON line

import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseObservabilityConfig } from '../../src/config/observability-config.ts'
import { knativeRequestLogFor, type RequestLogRevision } from '../../src/proxy/knative-request-log.ts'
import type { InboundRequest } from '../../src/server/inbound.ts'

const CALLS_PER_ROUND = 200_000
const ROUNDS = 7

const TEMPLATES: Readonly<Record<string, string>> = {
  default: '{"httpRequest": {"requestMethod": "{{.Request.Method}}", "requestUrl": "{{js .Request.RequestURI}}", "requestSize": "{{.Request.ContentLength}}", "status": {{.Response.Code}}, "responseSize": "{{.Response.Size}}", "userAgent": "{{js .Request.UserAgent}}", "remoteIp": "{{js .Request.RemoteAddr}}", "serverIp": "{{.Revision.PodIP}}", "referer": "{{js .Request.Referer}}", "latency": "{{.Response.Latency}}s", "protocol": "{{.Request.Proto}}"}, "traceId": "{{.TraceID}}"}',
  header: '{{index .Request.Header "X-B3-Traceid"}} {{printf "%s %d %.3f" .Request.Method .Response.Code .Response.Latency}}',
  url: '{{.Request.URL}} {{.Response.Code}}',
  control: '{{with .Request}}{{.Method}} {{range $i, $v := .Header.Values "Accept"}}{{if $i}},{{end}}{{$v}}{{end}}{{end}} {{if ge .Response.Code 500}}error{{else}}ok{{end}}',
}

const REVISION: RequestLogRevision = Object.freeze({ Name: 'rev', Namespace: 'ns', Service: 'svc', Configuration: 'cfg', PodName: 'pod-abc', PodIP: '10.0.0.9' })

const RAW = ['Host', 'app.ns.svc.cluster.local', 'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) "bench"', 'Accept', '*/*', 'Referer', 'https://ref.example/a?b=c',
  'X-B3-TraceId', '80f198ee56343ba864fe8b2a57d3eff7', 'Content-Length', '128', 'X-Forwarded-For', '10.1.2.3']
const REQUEST: InboundRequest = {
  method: 'POST',
  url: '/api/items?page=2&size=20',
  headers: {},
  rawHeaders: RAW,
  httpVersionMajor: 1,
  httpVersionMinor: 1,
  socket: { remoteAddress: '10.1.2.3', remotePort: 54321 },
  readableDidRead: false,
  resume: () => undefined,
}

interface Result { variant: string, nsPerCall: number, bytesPerLine: number }

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

function runVariant (variant: string): Result {
  const problems: string[] = []
  const o11y = parseObservabilityConfig(JSON.stringify({ enableRequestLog: true, requestLogTemplate: TEMPLATES[variant] }), problems)
  let bytes = 0
  const log = knativeRequestLogFor(o11y, (line) => { bytes += line.length }, 'activator')
  if (log === null || problems.length > 0) throw new Error(problems.join('\n'))
  const nsPerCall: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    bytes = 0
    const start = performance.now()
    for (let i = 0; i < CALLS_PER_ROUND; i++) log.logAnswered(REQUEST, 200, 1024 + (i & 255), 1.234567 + (i & 7), REVISION)
    nsPerCall.push(((performance.now() - start) * 1e6) / CALLS_PER_ROUND)
  }
  // The first two rounds are warm-up (tiering up to optimized code).
  return { variant, nsPerCall: median(nsPerCall.slice(2)), bytesPerLine: Math.round(bytes / CALLS_PER_ROUND) }
}

const arg = process.argv[2]
if (arg !== undefined && Object.hasOwn(TEMPLATES, arg)) {
  process.stdout.write(JSON.stringify(runVariant(arg)) + '\n')
} else {
  const self = fileURLToPath(import.meta.url)
  process.stdout.write(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}\n\n| template | ns per request | bytes per line |\n|---|---:|---:|\n`)
  for (const variant of Object.keys(TEMPLATES)) {
    const parsed: unknown = JSON.parse(execFileSync(process.execPath, [self, variant], { encoding: 'utf8' }))
    if (typeof parsed !== 'object' || parsed === null || !('nsPerCall' in parsed) || !('bytesPerLine' in parsed)) throw new Error('bad child output')
    process.stdout.write(`| ${variant} | ${Number(parsed.nsPerCall).toFixed(0)} | ${String(parsed.bytesPerLine)} |\n`)
  }
}
