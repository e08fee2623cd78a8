// gRPC-style unary calls through the activator: HTTP/2 (h2c, prior knowledge) clients vs HTTP/1.1
// clients, same stack. `node loadtest/activator-h2c.bench.ts [--duration 5] [--rounds 3] [--concurrency 32]`.
//
// Processes, all on 127.0.0.1: an h2c app (unary echo: one gRPC message in, one out, grpc-status in
// trailers), a Sluice sidecar in front of it with --upstream-protocol h2c (so the app sees h2c from
// both kinds of client and only the client -> activator -> sidecar hops differ), and a Sluice
// activator (--source api, the revision PUT on its admin port, CC 0). Closed loop: `--concurrency`
// calls in flight; h2 = one session with that many streams (as a gRPC channel), h1 = that many
// keep-alive connections (undici). Rounds alternate h2 and h1. Latency from hdr-histogram, in us.

import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { connect, type ClientHttp2Session } from 'node:http2'
import { createServer, type AddressInfo } from 'node:net'
import { cpus } from 'node:os'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import * as hdr from 'hdr-histogram-js'
import { Agent, request } from 'undici'
import { formatProfileSummary, summariseProfile } from './harness/cpu-profile-summary.ts'

const BIN = fileURLToPath(new URL('../bin/sluice', import.meta.url))
const HOST = '127.0.0.1'
const ROUTE = { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'grpc' }

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '2' },
    // h2 only, the activator under --cpu-prof for one round; prints where its time goes.
    profile: { type: 'boolean', default: false },
  },
})
const DURATION_MS = Number(flags.duration) * 1000
const ROUNDS = Number(flags.rounds)
const CONCURRENCY = Number(flags.concurrency)
const WARMUP_MS = Number(flags.warmup) * 1000

const APP_SOURCE = `
const http2 = require('node:http2')
const server = http2.createServer()
server.on('stream', (stream) => {
  const chunks = []
  stream.on('data', (c) => chunks.push(c))
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => { stream.sendTrailers({ 'grpc-status': '0' }) })
    stream.end(Buffer.concat(chunks))
  })
  stream.on('error', () => {})
})
server.listen(Number(process.argv[1]), '127.0.0.1')
`

function grpcFrame (payload: Buffer): Buffer {
  const out = Buffer.alloc(5 + payload.length)
  out.writeUInt32BE(payload.length, 1)
  payload.copy(out, 5)
  return out
}
const BODY = grpcFrame(Buffer.alloc(100, 120))

async function freePort (): Promise<number> {
  const s = createServer()
  s.listen(0, HOST)
  await once(s, 'listening')
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
  return port
}

const children: ChildProcess[] = []
function start (args: string[], env: Record<string, string> = {}): ChildProcess {
  const env2: NodeJS.ProcessEnv = { ...process.env, ...env }
  delete env2.NODE_OPTIONS
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: env2 })
  children.push(child)
  return child
}

async function until (what: string, fn: () => Promise<boolean>): Promise<void> {
  const end = performance.now() + 20_000
  for (;;) {
    if (await fn().catch(() => false)) return
    if (performance.now() > end) throw new Error(`bench: ${what} not ready`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function histogram (): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false })
}

interface RoundResult { protocol: 'h2' | 'h1', calls: number, errors: number, rps: number, p50: number, p99: number, p999: number }

function h2Call (session: ClientHttp2Session): Promise<boolean> {
  return new Promise((resolve) => {
    const stream = session.request({ ':method': 'POST', ':path': '/bench.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', ...ROUTE })
    let ok = false
    stream.on('trailers', (t) => { ok = t['grpc-status'] === '0' })
    stream.on('data', () => {})
    stream.on('end', () => { resolve(ok) })
    stream.on('error', () => { resolve(false) })
    stream.end(BODY)
  })
}

async function h1Call (agent: Agent, url: string): Promise<boolean> {
  const res = await request(url + '/bench.Echo/Unary', { method: 'POST', dispatcher: agent, body: BODY, headers: { 'content-type': 'application/grpc', ...ROUTE } })
  await res.body.dump()
  return res.statusCode === 200
}

async function runRound (protocol: 'h2' | 'h1', url: string, durationMs: number): Promise<RoundResult> {
  const h = histogram()
  let calls = 0
  let errors = 0
  const session = protocol === 'h2' ? connect(url) : null
  session?.on('error', () => {})
  const agent = protocol === 'h1' ? new Agent({ connections: CONCURRENCY, keepAliveTimeout: 10_000 }) : null
  const end = performance.now() + durationMs
  const start = performance.now()
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now()
      const ok = session !== null ? await h2Call(session) : agent !== null ? await h1Call(agent, url).catch(() => false) : false
      h.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)))
      calls++
      if (!ok) errors++
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const elapsedS = (performance.now() - start) / 1000
  session?.close()
  await agent?.close()
  return { protocol, calls, errors, rps: Math.round(calls / elapsedS), p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), p999: h.getValueAtPercentile(99.9) }
}

async function main (): Promise<void> {
  const [appPort, sidecarPort, activatorPort, adminPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
  start(['-e', APP_SOURCE, String(appPort)])
  start([BIN, 'sidecar', '--host', HOST, '--port', String(sidecarPort), '--admin-port', '0', '--metrics-port', '0', '--upstream-protocol', 'h2c', '--log-level', 'warn'],
    { USER_PORT: String(appPort), CONTAINER_CONCURRENCY: '0', SERVING_POD: 'bench' })
  const profDir = flags.profile ? mkdtempSync(join(tmpdir(), 'sluice-h2c-prof-')) : ''
  const activator = start([...(flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), BIN, 'activator', '--host', HOST, '--port', String(activatorPort), '--h2c-port', '0', '--admin-port', String(adminPort), '--metrics-port', '0', '--source', 'api', '--drain-seconds', '0', '--log-level', 'warn'],
    { POD_NAME: 'bench' })
  await until('activator admin API', async () => {
    const res = await request(`http://${HOST}:${adminPort}/revisions/default/grpc`, { method: 'PUT', body: JSON.stringify({ containerConcurrency: 0, endpoints: [`${HOST}:${sidecarPort}`] }) })
    await res.body.dump()
    return res.statusCode < 300
  })
  const url = `http://${HOST}:${activatorPort}`
  await until('a call through the stack', async () => {
    const session = connect(url)
    session.on('error', () => {})
    const ok = await h2Call(session)
    session.close()
    return ok
  })
  await runRound('h2', url, WARMUP_MS)
  if (flags.profile) {
    const r = await runRound('h2', url, DURATION_MS)
    process.stdout.write(`h2: ${r.rps} calls/s under --cpu-prof\n`)
    activator.kill('SIGTERM')
    await once(activator, 'exit')
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
    if (file !== undefined) process.stdout.write(formatProfileSummary(summariseProfile(join(profDir, file))) + '\n')
    return
  }
  await runRound('h1', url, WARMUP_MS)
  const results: RoundResult[] = []
  for (let i = 0; i < ROUNDS; i++) {
    for (const p of (i % 2 === 0 ? ['h2', 'h1'] : ['h1', 'h2']) as Array<'h2' | 'h1'>) {
      const r = await runRound(p, url, DURATION_MS)
      results.push(r)
      process.stdout.write(`round ${i + 1} ${p}: ${r.rps} calls/s, p50 ${r.p50} us, p99 ${r.p99} us, p999 ${r.p999} us, errors ${r.errors}/${r.calls}\n`)
    }
  }
  const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? 0 }
  process.stdout.write(`\nNode ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}; ${ROUNDS} rounds x ${DURATION_MS / 1000} s, concurrency ${CONCURRENCY}, 100-byte message\n\n`)
  process.stdout.write('| client | calls/s (median) | p50 us | p99 us | p99.9 us | errors |\n|---|---|---|---|---|---|\n')
  for (const p of ['h2', 'h1'] as const) {
    const rs = results.filter((r) => r.protocol === p)
    process.stdout.write(`| ${p === 'h2' ? 'HTTP/2 (h2c), 1 session' : `HTTP/1.1, ${CONCURRENCY} connections`} | ${median(rs.map((r) => r.rps))} | ${median(rs.map((r) => r.p50))} | ${median(rs.map((r) => r.p99))} | ${median(rs.map((r) => r.p999))} | ${rs.reduce((n, r) => n + r.errors, 0)} |\n`)
  }
}

try {
  await main()
} finally {
  for (const c of children) c.kill('SIGKILL')
}
