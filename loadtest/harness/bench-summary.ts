// Per-target aggregation of the interleaved rounds, and the Markdown rendering of it.

import type { LatencyUs, LoadResult } from './load-result.ts'
import type { PacedResult } from './paced-runner.ts'

/** One measured run against one target, with the CPU the processes used during it. */
export interface RunRecord {
  readonly target: string
  readonly round: number
  readonly kind: 'closed' | 'paced' | 'autocannon-rate'
  readonly load: LoadResult | PacedResult
  /** utime+stime of the proxy's processes during the run; null for the direct target. */
  readonly proxyCpuUs: number | null
  /** Read-type and write-type syscalls of the proxy's processes during the run (/proc/<pid>/io). */
  readonly proxySyscalls: { reads: number, writes: number } | null
  readonly upstreamCpuUs: number
  /** CPU of the load generator (reaped child), of the bench itself and of everything else on the machine. */
  readonly loadgenCpuUs: number
  readonly otherCpuUs: number
  /** Share of the whole machine (all cores) that was busy during the run, in percent. */
  readonly machineBusyPct: number
}

export interface TargetSummary {
  readonly target: string
  readonly description: string
  readonly rounds: number
  readonly reqPerSec: { median: number, min: number, max: number, perRound: number[] }
  /** Median over rounds of (this target's req/s / the reference's req/s in the same round). */
  readonly ratioVsDirect: number | null
  readonly ratioVsHaproxy: number | null
  readonly ratioOfMedians: { vsDirect: number | null, vsHaproxy: number | null } | null
  /** Median over rounds of each percentile (closed loop). */
  readonly latencyUs: LatencyUs
  readonly proxyCpuUsPerReq: number | null
  /** Proxy read/write syscalls per request over the closed-loop runs. */
  readonly proxySyscallsPerReq: { reads: number, writes: number } | null
  readonly upstreamCpuUsPerReq: number
  readonly peakRssMb: number | null
  readonly errors: number
  readonly non2xx: number
  readonly paced: { rate: number, latencyUs: LatencyUs, correctedUs: LatencyUs, errors: number, non2xx: number, proxyCpuUsPerReq: number | null } | null
  readonly autocannonRate: { rate: number, latencyUs: LatencyUs, errors: number, non2xx: number } | null
}

export function median (values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

function medianLatency (runs: ReadonlyArray<LatencyUs>): LatencyUs {
  return {
    p50: median(runs.map((l) => l.p50)),
    p90: median(runs.map((l) => l.p90)),
    p99: median(runs.map((l) => l.p99)),
    p999: median(runs.map((l) => l.p999)),
    max: Math.max(...runs.map((l) => l.max)),
  }
}

function cpuPerReq (runs: readonly RunRecord[], pick: (r: RunRecord) => number | null): number | null {
  let cpu = 0
  let reqs = 0
  for (const r of runs) {
    const v = pick(r)
    if (v === null) return null
    cpu += v
    reqs += r.load.requests
  }
  return reqs > 0 ? cpu / reqs : null
}

function syscallsPerReq (runs: readonly RunRecord[]): { reads: number, writes: number } | null {
  let reads = 0
  let writes = 0
  let reqs = 0
  for (const r of runs) {
    if (r.proxySyscalls === null) return null
    reads += r.proxySyscalls.reads
    writes += r.proxySyscalls.writes
    reqs += r.load.requests
  }
  return reqs > 0 ? { reads: reads / reqs, writes: writes / reqs } : null
}

export function summariseTarget (target: string, description: string, runs: readonly RunRecord[], peakRssKb: number | null, pacedRate: number): TargetSummary {
  const closed = runs.filter((r) => r.target === target && r.kind === 'closed')
  const paced = runs.filter((r) => r.target === target && r.kind === 'paced')
  const rate = runs.filter((r) => r.target === target && r.kind === 'autocannon-rate')
  const rps = closed.map((r) => r.load.reqPerSec)
  const pacedLoads = paced.map((r) => r.load)
  return {
    target,
    description,
    rounds: closed.length,
    reqPerSec: { median: median(rps), min: Math.min(...rps), max: Math.max(...rps), perRound: rps },
    ratioVsDirect: null,
    ratioVsHaproxy: null,
    ratioOfMedians: null,
    latencyUs: medianLatency(closed.map((r) => r.load.latencyUs)),
    proxyCpuUsPerReq: cpuPerReq(closed, (r) => r.proxyCpuUs),
    proxySyscallsPerReq: syscallsPerReq(closed),
    upstreamCpuUsPerReq: cpuPerReq(closed, (r) => r.upstreamCpuUs) ?? Number.NaN,
    peakRssMb: peakRssKb === null ? null : peakRssKb / 1024,
    errors: closed.reduce((a, r) => a + r.load.errors, 0),
    non2xx: closed.reduce((a, r) => a + r.load.non2xx, 0),
    paced: paced.length === 0
      ? null
      : {
          rate: pacedRate,
          latencyUs: medianLatency(pacedLoads.map((l) => l.latencyUs)),
          correctedUs: medianLatency(pacedLoads.map((l) => ('correctedUs' in l ? l.correctedUs : l.latencyUs))),
          errors: pacedLoads.reduce((a, l) => a + l.errors, 0),
          non2xx: pacedLoads.reduce((a, l) => a + l.non2xx, 0),
          proxyCpuUsPerReq: cpuPerReq(paced, (r) => r.proxyCpuUs),
        },
    autocannonRate: rate.length === 0
      ? null
      : {
          rate: pacedRate,
          latencyUs: medianLatency(rate.map((r) => r.load.latencyUs)),
          errors: rate.reduce((a, r) => a + r.load.errors, 0),
          non2xx: rate.reduce((a, r) => a + r.load.non2xx, 0),
        },
  }
}

/**
 * Ratios are paired by round: target / reference within the same round (neighbours in time, same
 * background load), then the median over rounds. Far steadier on a shared machine than a ratio of medians
 * (`ratioOfMedians` in the JSON).
 */
export function withRatios (summaries: readonly TargetSummary[]): TargetSummary[] {
  const direct = summaries.find((s) => s.target === 'direct') ?? null
  const haproxy = summaries.find((s) => s.target === 'haproxy') ?? null
  return summaries.map((s) => ({
    ...s,
    ratioVsDirect: direct === null ? null : pairedRatio(s, direct),
    ratioVsHaproxy: haproxy === null ? null : pairedRatio(s, haproxy),
    ratioOfMedians: {
      vsDirect: direct === null ? null : s.reqPerSec.median / direct.reqPerSec.median,
      vsHaproxy: haproxy === null ? null : s.reqPerSec.median / haproxy.reqPerSec.median,
    },
  }))
}

/** Median over rounds of s / ref within each round; with several refs, the best of them in that round. */
export function pairedRatio (s: TargetSummary, ref: TargetSummary | readonly TargetSummary[]): number {
  const refs = Array.isArray(ref) ? ref : [ref]
  const per = s.reqPerSec.perRound.map((v, i) => v / Math.max(...refs.map((r) => r.reqPerSec.perRound[i] ?? Number.NaN)))
  return median(per.filter((v) => Number.isFinite(v)))
}

/** Stats on vs off: paired by round (same round = closest in time, same background noise). */
export interface StatsCost {
  readonly withStats: string
  readonly withoutStats: string
  /** (off - on) / off of the medians, percent: positive = stats cost throughput. */
  readonly costPctOfMedians: number
  /** Median of the per-round costs (paired in time, the steadier figure). */
  readonly costPctMedianOfRounds: number
  readonly costPctPerRound: number[]
  readonly cpuUsPerReqOn: number | null
  readonly cpuUsPerReqOff: number | null
}

export function statsCost (summaries: readonly TargetSummary[], on: string, off: string): StatsCost | null {
  const a = summaries.find((s) => s.target === on)
  const b = summaries.find((s) => s.target === off)
  if (a === undefined || b === undefined) return null
  const per = a.reqPerSec.perRound.map((v, i) => {
    const o = b.reqPerSec.perRound[i] ?? Number.NaN
    return (100 * (o - v)) / o
  })
  return {
    withStats: on,
    withoutStats: off,
    costPctOfMedians: (100 * (b.reqPerSec.median - a.reqPerSec.median)) / b.reqPerSec.median,
    costPctPerRound: per,
    costPctMedianOfRounds: median(per.filter((v) => Number.isFinite(v))),
    cpuUsPerReqOn: a.proxyCpuUsPerReq,
    cpuUsPerReqOff: b.proxyCpuUsPerReq,
  }
}

const f0 = (v: number | null): string => v === null || !Number.isFinite(v) ? '-' : Math.round(v).toLocaleString('en-US')
const f1 = (v: number | null): string => v === null || !Number.isFinite(v) ? '-' : v.toFixed(1)
const f2 = (v: number | null): string => v === null || !Number.isFinite(v) ? '-' : v.toFixed(2)
const ms = (us: number): string => Number.isFinite(us) ? (us / 1000).toFixed(2) : '-'

export function markdownTable (summaries: readonly TargetSummary[]): string {
  const rows = [
    '| target | req/s (median) | min-max | vs direct | vs HAProxy | p50 ms | p99 ms | p99.9 ms | CPU us/req | syscalls/req rd+wr | peak RSS MB | errors / non-2xx | open-loop p50 / p99 / p99.9 ms | autocannon -R p99 / p99.9 ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const s of summaries) {
    const p = s.paced
    const a = s.autocannonRate
    rows.push(`| ${s.target} | ${f0(s.reqPerSec.median)} | ${f0(s.reqPerSec.min)}-${f0(s.reqPerSec.max)} | ${f2(s.ratioVsDirect)} | ${f2(s.ratioVsHaproxy)} | ${ms(s.latencyUs.p50)} | ${ms(s.latencyUs.p99)} | ${ms(s.latencyUs.p999)} | ${f1(s.proxyCpuUsPerReq)} | ${s.proxySyscallsPerReq === null ? '-' : `${f1(s.proxySyscallsPerReq.reads)}+${f1(s.proxySyscallsPerReq.writes)}`} | ${f1(s.peakRssMb)} | ${s.errors} / ${s.non2xx} | ${p === null ? '-' : `${ms(p.latencyUs.p50)} / ${ms(p.latencyUs.p99)} / ${ms(p.latencyUs.p999)}`} | ${a === null ? '-' : `${ms(a.latencyUs.p99)} / ${ms(a.latencyUs.p999)}`} |`)
  }
  return rows.join('\n') + '\n'
}

/** CPU other processes took during a run, percent of one core (the per-run line's "other procs"). */
export function otherCorePct (r: RunRecord): number {
  return Math.max(0, r.otherCpuUs / 1e4 / r.load.durationS)
}

/**
 * One target's figures over its quiet runs only: those during which other processes (not the proxy, the
 * upstream, the load generator or the bench) used at most `maxOtherCorePct` of a core. On a machine shared
 * with other engineers' test runs, these are the figures to compare with a dedicated machine's.
 */
export interface QuietFigures {
  readonly target: string
  readonly closedRuns: number
  readonly reqPerSec: number
  readonly cpuUsPerReq: number | null
  readonly pacedRuns: number
  readonly pacedLatencyUs: LatencyUs | null
}

export function quietFigures (runs: readonly RunRecord[], target: string, maxOtherCorePct: number): QuietFigures {
  const quiet = runs.filter((r) => r.target === target && otherCorePct(r) <= maxOtherCorePct)
  const closed = quiet.filter((r) => r.kind === 'closed')
  const paced = quiet.filter((r) => r.kind === 'paced')
  return {
    target,
    closedRuns: closed.length,
    reqPerSec: median(closed.map((r) => r.load.reqPerSec)),
    cpuUsPerReq: cpuPerReq(closed, (r) => r.proxyCpuUs),
    pacedRuns: paced.length,
    pacedLatencyUs: paced.length === 0 ? null : medianLatency(paced.map((r) => r.load.latencyUs)),
  }
}

/** Median over the rounds in which both closed-loop runs were quiet of a's req/s / b's; NaN when none. */
export function quietPairedRatio (runs: readonly RunRecord[], a: string, b: string | readonly string[], maxOtherCorePct: number): { ratio: number, rounds: number } {
  const refs = typeof b === 'string' ? [b] : b
  const ratios: number[] = []
  for (const ra of runs) {
    if (ra.target !== a || ra.kind !== 'closed' || otherCorePct(ra) > maxOtherCorePct) continue
    const rbs = refs.map((name) => runs.find((r) => r.target === name && r.kind === 'closed' && r.round === ra.round))
    if (rbs.some((rb) => rb === undefined || otherCorePct(rb) > maxOtherCorePct)) continue
    ratios.push(ra.load.reqPerSec / Math.max(...rbs.map((rb) => rb?.load.reqPerSec ?? Number.NaN)))
  }
  return { ratio: median(ratios), rounds: ratios.length }
}
