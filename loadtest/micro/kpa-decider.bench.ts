// One scenario: the cost of one KpaDecider.scale() call (one revision's 2 s tick), like Knative's
// BenchmarkAutoscaler, with the metric source as the alternative:
//   static   - a fixed metric source: the decision logic alone (what BenchmarkAutoscaler measures)
//   linear   - a MetricCollector holding a full 60 s / 6 s window, linear averaging (the default)
//   weighted - the same with weighted-exponential averaging (reads walk the whole window)
//   tick     - a full tick as the autoscaler runs it: two 1 s records (scrape + activator) and
//              one scale(), with time moving 2 s per tick and scale-down-delay on
//
// Each variant runs in its own child process so V8 sees one metric source class at the call site.
//
//   npx node loadtest/micro/kpa-decider.bench.ts            # all variants, prints a table
//   npx node loadtest/micro/kpa-decider.bench.ts <variant>  # one variant, prints one JSON line

import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { ManualClock } from '../../src/shared/clock.ts'
import { DEFAULT_AUTOSCALER_CONFIG } from '../../src/autoscaler/autoscaler-config.ts'
import { makeDeciderSpec, type DeciderSpec } from '../../src/autoscaler/decider-spec.ts'
import { KpaDecider, type DeciderMetrics } from '../../src/autoscaler/kpa-decider.ts'
import { MetricCollector, type StableAndPanic } from '../../src/autoscaler/metric-collector.ts'

const CALLS_PER_ROUND = 200_000
const ROUNDS = 7
const VARIANTS = ['static', 'linear', 'weighted', 'tick'] as const
type Variant = typeof VARIANTS[number]

interface Result { variant: string, callsPerSec: number, nsPerCall: number }

function spec (annotations: Record<string, string>): DeciderSpec {
  const r = makeDeciderSpec(DEFAULT_AUTOSCALER_CONFIG, { containerConcurrency: 10, annotations })
  if (r.spec === null) throw new Error(r.problems.join('\n'))
  return r.spec
}

const STATIC: StableAndPanic = { stable: 50, panic: 10 }
const staticMetrics: DeciderMetrics = {
  stableAndPanicConcurrency: () => STATIC,
  stableAndPanicRPS: () => STATIC,
}

function stat (sec: number): { averageConcurrentRequests: number, averageProxiedConcurrentRequests: number, requestCount: number, proxiedRequestCount: number } {
  return { averageConcurrentRequests: 40 + (sec % 13), averageProxiedConcurrentRequests: 0, requestCount: 400 + (sec % 7), proxiedRequestCount: 0 }
}

function filledCollector (s: DeciderSpec): MetricCollector {
  const c = new MetricCollector({ stableWindowMs: s.stableWindowMs, panicWindowMs: s.panicWindowMs, aggregationAlgorithm: s.aggregationAlgorithm })
  for (let sec = 0; sec < 60; sec++) c.record(sec * 1000, stat(sec))
  return c
}

/** ns per call for each round. */
function runRounds (variant: Variant): number[] {
  const clock = new ManualClock(0)
  const ns: number[] = []
  let sink = 0
  if (variant === 'tick') {
    const s = spec({ 'autoscaling.knative.dev/scale-down-delay': '30s' })
    const collector = filledCollector(s)
    const decider = new KpaDecider({ spec: s, metrics: collector, readyPods: 5, clock })
    let sec = 60
    for (let round = 0; round < ROUNDS; round++) {
      const start = performance.now()
      for (let i = 0; i < CALLS_PER_ROUND; i++) {
        collector.record(sec * 1000, stat(sec))
        collector.record(sec * 1000 + 1000, stat(sec + 1))
        sec += 2
        sink += decider.scale(sec * 1000, 5).desiredPodCount
      }
      ns.push(((performance.now() - start) * 1e6) / CALLS_PER_ROUND)
    }
  } else {
    const s = spec(variant === 'weighted' ? { 'autoscaling.knative.dev/metric-aggregation-algorithm': 'weighted-exponential' } : {})
    const metrics = variant === 'static' ? staticMetrics : filledCollector(s)
    const decider = new KpaDecider({ spec: s, metrics, readyPods: 1, clock })
    const nowMs = 59_500
    for (let round = 0; round < ROUNDS; round++) {
      const start = performance.now()
      for (let i = 0; i < CALLS_PER_ROUND; i++) sink += decider.scale(nowMs, 5).desiredPodCount
      ns.push(((performance.now() - start) * 1e6) / CALLS_PER_ROUND)
    }
  }
  if (sink === -42) process.stdout.write('') // keep results observable
  return ns
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

function runVariant (variant: Variant): Result {
  // The first two rounds are warm-up (tiering up to optimized code).
  const ns = median(runRounds(variant).slice(2))
  return { variant, callsPerSec: Math.round(1e9 / ns), nsPerCall: ns }
}

function isVariant (s: string | undefined): s is Variant {
  return VARIANTS.some((v) => v === s)
}

const arg = process.argv[2]
if (isVariant(arg)) {
  process.stdout.write(JSON.stringify(runVariant(arg)) + '\n')
} else {
  const self = fileURLToPath(import.meta.url)
  const results: Result[] = []
  for (const variant of VARIANTS) {
    const out = execFileSync(process.execPath, [self, variant], { encoding: 'utf8' })
    const parsed: unknown = JSON.parse(out)
    if (typeof parsed === 'object' && parsed !== null && 'variant' in parsed && 'callsPerSec' in parsed && 'nsPerCall' in parsed) {
      results.push({ variant: String(parsed.variant), callsPerSec: Number(parsed.callsPerSec), nsPerCall: Number(parsed.nsPerCall) })
    }
  }
  const lines = [
    `kpa-decider: scale() per call, ${CALLS_PER_ROUND} calls x ${ROUNDS - 2} rounds, median`,
    `node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}`,
    'variant   calls/s        ns/call',
  ]
  for (const r of results) {
    lines.push(`${r.variant.padEnd(9)} ${String(r.callsPerSec).padStart(12)}   ${r.nsPerCall.toFixed(1).padStart(7)}`)
  }
  process.stdout.write(lines.join('\n') + '\n')
}
