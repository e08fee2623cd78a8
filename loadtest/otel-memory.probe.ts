// Where tracing's memory goes (issue 15): one Sluice sidecar CC=10 in the image's flags with
// OpenTelemetry on (metrics + traces to an OTLP/HTTP sink), wrk -t1 -c50 for DUR s; each second
// the process's RSS/anon (smaps_rollup) and, from a preloaded probe, process.memoryUsage() and
// v8.getHeapSpaceStatistics(); SNAP=1 writes a heap snapshot at 2/3 of the load (SIGUSR2).
// (harness/heap-space-preload.mjs; PRELOAD= to leave it out). BIN=<dir>/bin/sluice runs another build
// (e.g. a `git archive` of an older commit with node_modules linked); FLAGS= replaces the image's flags.
//   flock /tmp/sluice-bench.lock env RATE=1 DUR=10 npx node loadtest/otel-memory.probe.ts   # RATE=0.1, RATE=off
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ChildGroup } from './harness/child-group.ts'
import { startOtlpSink } from './harness/otlp-sink.ts'
import { HOST, startNginx, startSluice } from './harness/targets.ts'
import { runWrk } from './harness/wrk-runner.ts'

const rate = process.env.RATE ?? '1'
const dur = Number(process.env.DUR ?? 12)
const flags = (process.env.FLAGS ?? '--max-semi-space-size=1 --no-concurrent-recompilation').split(' ').filter(Boolean)
const dir = mkdtempSync(join(tmpdir(), 'sluice-otelmem-'))
const probeOut = join(dir, 'probe.jsonl')
const group = new ChildGroup()
function smaps (pid: number): string {
  const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
  const f = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(t)?.[1] ?? 0) / 1024
  return `rss ${f('Rss').toFixed(1)} anon ${f('Anonymous').toFixed(1)}`
}
try {
  const upstream = await startNginx(group, dir)
  const sink = await startOtlpSink()
  const env: Record<string, string> = { PROBE_OUT: probeOut }
  if (rate !== 'off') {
    env.OBSERVABILITY_CONFIG = JSON.stringify({
      requestMetrics: process.env.METRICS === '0' ? undefined : { protocol: 'http/protobuf', endpoint: `${sink.origin}/v1/metrics`, exportInterval: 10_000_000_000 },
      tracing: { protocol: 'http/protobuf', endpoint: `${sink.origin}/v1/traces`, samplingRate: Number(rate) },
    })
  }
  const nodeArgs = [...flags, '--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir', dir]
  const preload = process.env.PRELOAD ?? fileURLToPath(new URL('./harness/heap-space-preload.mjs', import.meta.url))
  if (preload !== '') nodeArgs.push('--import', preload)
  const s = await startSluice(group, dir, 'sluice', upstream.port, { bin: process.env.BIN === '' ? undefined : process.env.BIN, containerConcurrency: 10, stats: true, nodeArgs, env })
  const pid = s.child.pid ?? 0
  await new Promise((r) => setTimeout(r, 1500))
  process.stdout.write(`idle: ${smaps(pid)}\n`)
  const load = runWrk(group, { url: `http://${HOST}:${s.port}/`, connections: 50, threads: 1, durationS: dur })
  for (let i = 1; i <= dur; i++) {
    await new Promise((r) => setTimeout(r, 1000))
    process.stdout.write(`t=${i}s ${smaps(pid)} exports=${sink.exports} MB=${(sink.bytes / 1048576).toFixed(1)}\n`)
    if (process.env.SNAP === '1' && i === Math.round(dur * 2 / 3)) process.kill(pid, 'SIGUSR2')
  }
  const r = await load
  process.stdout.write(`wrk: ${r.reqPerSec.toFixed(0)} req/s, errors ${r.errors}\n`)
  await new Promise((r) => setTimeout(r, 1500))
  process.stdout.write(`after: ${smaps(pid)}\n`)
  if (existsSync(probeOut)) process.stdout.write(readFileSync(probeOut, 'utf8'))
  process.stdout.write(`dir: ${dir} ${readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')).join(' ')}\n`)
} finally {
  await group.stopAll()
}
