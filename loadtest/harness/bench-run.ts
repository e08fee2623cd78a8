// What every macro bench (sidecar.bench.ts, activator.bench.ts) does around one load run: wait for a
// quieter machine, sample /proc before and after (proxy, upstream, load generator, everything else),
// print one line per run, and describe the machine and the Sluice version measured.

import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { RunRecord } from './bench-summary.ts'
import type { LoadResult } from './load-result.ts'
import { busyPercent, cpuMicros, machineBusyMicros, machineTicks, processTree, reapedChildrenCpuMicros, syscallCounts } from './proc-stats.ts'
import type { RunningServer } from './targets.ts'

const REPO = fileURLToPath(new URL('../../', import.meta.url))

export interface BenchTarget {
  readonly name: string
  readonly description: string
  readonly server: RunningServer
  /** null: no proxy process (the direct run). */
  readonly proxyPid: number | null
  /** More process trees measured with proxyPid's (replicas of one proxy). */
  readonly extraPids?: readonly number[]
}

/** Every process of the target's proxy (the trees under proxyPid and extraPids). */
export function proxyProcesses (target: BenchTarget): number[] {
  if (target.proxyPid === null) return []
  return [target.proxyPid, ...(target.extraPids ?? [])].flatMap((pid) => processTree(pid))
}

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export function log (line: string): void {
  process.stderr.write(line + '\n')
}

export interface MachineInfo { node: string, cpuModel: string, cores: number, memoryGb: number, kernel: string }

export function machineInfo (): MachineInfo {
  const model = cpus()[0]?.model ?? readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown'
  return { node: process.version, cpuModel: model, cores: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), kernel: release() }
}

/** `2026-11-23T18-24-04` for file names. */
export function fileStamp (d: Date): string {
  return d.toISOString().replace(/[:.]/g, '-').slice(0, 19)
}

/** Background CPU with nothing of ours running, percent of the whole machine. */
export async function backgroundBusy (ms: number): Promise<number> {
  const a = machineTicks()
  await sleep(ms)
  return busyPercent(a, machineTicks())
}

export interface QuietWait { round: number, busyPct: number, loadavg1: number, waitedS: number }

/**
 * Other engineers' test runs share the 2 cores: waits (at most `maxS`) until other processes use at
 * most `maxPct` of the machine, sampled over 1 s.
 */
export async function waitForQuiet (round: number, maxPct: number, maxS: number): Promise<QuietWait> {
  const waitStart = performance.now()
  let busyPct = await backgroundBusy(1000)
  while (busyPct > maxPct && performance.now() - waitStart < maxS * 1000) busyPct = await backgroundBusy(1000)
  return { round, busyPct, loadavg1: loadavg()[0] ?? 0, waitedS: Math.round((performance.now() - waitStart) / 1000) }
}

/** Runs `run` and records the CPU of the proxy, the upstream, the load generator and everything else. */
export async function measured (target: BenchTarget, upstreamPid: number, round: number, kind: RunRecord['kind'], run: () => Promise<LoadResult>): Promise<RunRecord> {
  const proxyPids = proxyProcesses(target)
  const upstreamPids = processTree(upstreamPid)
  const selfPids = [process.pid]
  const m0 = machineTicks()
  const p0 = cpuMicros(proxyPids)
  const u0 = cpuMicros(upstreamPids)
  const s0 = cpuMicros(selfPids)
  const g0 = reapedChildrenCpuMicros()
  const io0 = syscallCounts(proxyPids)
  const load = await run()
  const m1 = machineTicks()
  const io1 = syscallCounts(proxyPids)
  const proxySyscalls = target.proxyPid === null ? null : { reads: io1.reads - io0.reads, writes: io1.writes - io0.writes }
  const proxyCpuUs = target.proxyPid === null ? null : cpuMicros(proxyPids) - p0
  const upstreamCpuUs = cpuMicros(upstreamPids) - u0
  const selfCpuUs = cpuMicros(selfPids) - s0
  const loadgenCpuUs = reapedChildrenCpuMicros() - g0
  const otherCpuUs = machineBusyMicros(m0, m1) - (proxyCpuUs ?? 0) - upstreamCpuUs - selfCpuUs - loadgenCpuUs
  return { target: target.name, round, kind, load, proxyCpuUs, proxySyscalls, upstreamCpuUs, loadgenCpuUs, otherCpuUs, machineBusyPct: busyPercent(m0, m1) }
}

export function describeRun (r: RunRecord): string {
  const l = r.load
  const n = Math.max(1, l.requests)
  const cpu = r.proxyCpuUs === null ? '' : ` cpu ${(r.proxyCpuUs / n).toFixed(1)} us/req`
  const sys = r.proxySyscalls === null ? '' : ` rd/wr ${(r.proxySyscalls.reads / n).toFixed(1)}/${(r.proxySyscalls.writes / n).toFixed(1)} per req`
  return `  round ${r.round} ${r.kind.padEnd(15)} ${r.target.padEnd(20)} ${Math.round(l.reqPerSec).toString().padStart(7)} req/s  p50 ${(l.latencyUs.p50 / 1000).toFixed(2)} p99 ${(l.latencyUs.p99 / 1000).toFixed(2)} p99.9 ${(l.latencyUs.p999 / 1000).toFixed(2)} ms${cpu}${sys}  err ${l.errors}/${l.non2xx}  machine ${r.machineBusyPct.toFixed(0)}% other procs ${Math.max(0, r.otherCpuUs / 1e4 / l.durationS).toFixed(0)}% of a core`
}

/** CPU of processes not ours during the closed-loop runs, percent of the whole machine, per run. */
export function otherCpuPct (runs: readonly RunRecord[], cores: number): number[] {
  return runs.filter((x) => x.kind === 'closed').map((x) => Math.max(0, x.otherCpuUs / 1e4 / x.load.durationS / cores))
}

export function gitHead (ref = 'HEAD'): string {
  try {
    return execFileSync('git', ['-C', REPO, 'rev-parse', '--short', ref], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return 'unknown'
  }
}

export function gitDirty (): boolean {
  try {
    return execFileSync('git', ['-C', REPO, 'status', '--porcelain', '--', 'src', 'bin'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== ''
  } catch {
    return false
  }
}

/** "working tree at abc123 (with uncommitted src/ changes)" or "HEAD = abc123". */
export function describeSluiceVersion (ref: string | null): string {
  return ref === null ? `working tree at ${gitHead()}${gitDirty() ? ' (with uncommitted src/ changes)' : ''}` : `${ref} = ${gitHead(ref)}`
}
