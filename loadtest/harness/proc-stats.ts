// CPU time and peak memory of a process tree, read from /proc (Linux only).
//
// /proc/<pid>/stat's utime+stime of a process (the thread-group leader) already sums all its threads, so
// V8's helper threads and libuv's pool are counted. A tree (nginx master + worker) is summed over its
// processes. Ticks are USER_HZ (CLK_TCK, 100 on Linux): 10 ms resolution, fine over runs of seconds.

import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

export const CLK_TCK = readClockTicks()

function readClockTicks (): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    return Number.isInteger(n) && n > 0 ? n : 100
  } catch {
    return 100
  }
}

interface StatLine { ppid: number, cpuTicks: number }

function readStat (pid: number): StatLine | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(rest[1]), cpuTicks: Number(rest[11]) + Number(rest[12]) }
}

/** The root and all its descendants that are alive now. */
export function processTree (rootPid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    const stat = readStat(pid)
    if (stat === null) continue
    const list = children.get(stat.ppid)
    if (list === undefined) { children.set(stat.ppid, [pid]) } else { list.push(pid) }
  }
  const out: number[] = []
  const todo = [rootPid]
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    if (readStat(pid) === null) continue
    out.push(pid)
    for (const c of children.get(pid) ?? []) todo.push(c)
  }
  return out
}

/** utime+stime summed over `pids`, in microseconds. */
export function cpuMicros (pids: readonly number[]): number {
  let ticks = 0
  for (const pid of pids) ticks += readStat(pid)?.cpuTicks ?? 0
  return (ticks * 1e6) / CLK_TCK
}

function statusKb (pid: number, key: string): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)
    return m?.[1] !== undefined ? Number(m[1]) : 0
  } catch {
    return 0
  }
}

/** Peak resident set (VmHWM) summed over `pids`, in kB. */
export function peakRssKb (pids: readonly number[]): number {
  let kb = 0
  for (const pid of pids) kb += statusKb(pid, 'VmHWM')
  return kb
}

/** Aggregate busy and total jiffies of the whole machine (first line of /proc/stat). */
export interface MachineTicks { busy: number, total: number }

export function machineTicks (): MachineTicks {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal ...
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0)
  const idle = (f[3] ?? 0) + (f[4] ?? 0)
  return { busy: total - idle, total }
}

/** Busy share of all cores between two samples, in percent of the whole machine. */
export function busyPercent (a: MachineTicks, b: MachineTicks): number {
  const total = b.total - a.total
  return total > 0 ? (100 * (b.busy - a.busy)) / total : 0
}

/**
 * CPU of this process's reaped children (cutime+cstime of /proc/self/stat), in microseconds. A load
 * generator's CPU shows up here once it exited and was waited for, which is how the bench learns what the
 * generator used without sampling it while it runs.
 */
export function reapedChildrenCpuMicros (): number {
  const text = readFileSync('/proc/self/stat', 'utf8')
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return ((Number(rest[13]) + Number(rest[14])) * 1e6) / CLK_TCK
}

/** Machine-wide CPU time between two samples, in microseconds (all cores). */
export function machineBusyMicros (a: MachineTicks, b: MachineTicks): number {
  return ((b.busy - a.busy) * 1e6) / CLK_TCK
}

/** Read-type and write-type syscalls (syscr/syscw of /proc/<pid>/io, all threads) summed over `pids`. */
export interface SyscallCounts { reads: number, writes: number }

export function syscallCounts (pids: readonly number[]): SyscallCounts {
  let reads = 0
  let writes = 0
  for (const pid of pids) {
    try {
      const text = readFileSync(`/proc/${pid}/io`, 'utf8')
      reads += Number(/^syscr:\s+(\d+)/m.exec(text)?.[1] ?? 0)
      writes += Number(/^syscw:\s+(\d+)/m.exec(text)?.[1] ?? 0)
    } catch {
      // process gone
    }
  }
  return { reads, writes }
}
