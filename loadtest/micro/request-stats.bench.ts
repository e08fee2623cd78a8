// One scenario: the cost of the stats calls a request makes (reqIn + reqOut, with a clock read each, as the
// sidecar does), RequestStats vs NOOP_STATS (`--no-stats`), plus one report per 10k pairs like a 1 s tick.
//
// Each variant runs in its own child process so V8 sees one recorder class at the call site, as in a real
// sidecar; in one process the second variant would run on a call site made polymorphic by the first.
//
//   npx node loadtest/micro/request-stats.bench.ts            # both variants, prints a table
//   npx node loadtest/micro/request-stats.bench.ts stats|noop # one variant, prints one JSON line

import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { realClock } from '../../src/shared/clock.ts'
import type { RequestStatsRecorder } from '../../src/stats/request-stats.ts'
import { newStatWindow, NOOP_STATS, RequestStats } from '../../src/stats/request-stats.ts'

const PAIRS_PER_ROUND = 2_000_000
const ROUNDS = 7
const PAIRS_PER_REPORT = 10_000

interface Result { variant: string, opsPerSec: number, nsPerPair: number }

function runRounds (recorder: RequestStatsRecorder): number[] {
  const clock = realClock
  const window = newStatWindow()
  const nsPerPair: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now()
    for (let i = 0; i < PAIRS_PER_ROUND; i++) {
      const proxied = (i & 7) === 0
      recorder.reqIn(proxied, clock.nowMs())
      recorder.reqOut(proxied, clock.nowMs())
      if (i % PAIRS_PER_REPORT === 0) recorder.report(clock.nowMs(), window)
    }
    nsPerPair.push(((performance.now() - start) * 1e6) / PAIRS_PER_ROUND)
  }
  return nsPerPair
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

function runVariant (variant: string): Result {
  const recorder = variant === 'noop' ? NOOP_STATS : new RequestStats(realClock.nowMs())
  // The first two rounds are warm-up (tiering up to optimized code).
  const ns = median(runRounds(recorder).slice(2))
  return { variant, opsPerSec: Math.round(1e9 / ns), nsPerPair: ns }
}

const arg = process.argv[2]
if (arg === 'stats' || arg === 'noop') {
  process.stdout.write(JSON.stringify(runVariant(arg)) + '\n')
} else {
  const self = fileURLToPath(import.meta.url)
  const results: Result[] = []
  for (const variant of ['noop', 'stats']) {
    const out = execFileSync(process.execPath, [self, variant], { encoding: 'utf8' })
    const parsed: unknown = JSON.parse(out)
    if (typeof parsed === 'object' && parsed !== null && 'variant' in parsed && 'opsPerSec' in parsed && 'nsPerPair' in parsed) {
      results.push({ variant: String(parsed.variant), opsPerSec: Number(parsed.opsPerSec), nsPerPair: Number(parsed.nsPerPair) })
    }
  }
  const lines = [
    `request-stats: reqIn+reqOut pair (2 clock reads), ${PAIRS_PER_ROUND} pairs x ${ROUNDS - 2} rounds, median`,
    `node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}`,
    'variant  pairs/s        ns/pair',
  ]
  for (const r of results) {
    lines.push(`${r.variant.padEnd(8)} ${String(r.opsPerSec).padStart(12)}   ${r.nsPerPair.toFixed(1).padStart(7)}`)
  }
  const noop = results.find((r) => r.variant === 'noop')
  const stats = results.find((r) => r.variant === 'stats')
  if (noop !== undefined && stats !== undefined) {
    lines.push(`stats cost: ${(stats.nsPerPair - noop.nsPerPair).toFixed(1)} ns per request`)
  }
  process.stdout.write(lines.join('\n') + '\n')
}
