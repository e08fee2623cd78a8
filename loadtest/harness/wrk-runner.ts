// Closed-loop load with wrk (the C load generator, far cheaper per request than a Node client, so it is
// not the bottleneck on a 2-core box). wrk-report.lua adds a JSON line with p99.9.

import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ChildGroup } from './child-group.ts'
import { collectOutput } from './child-group.ts'
import type { LoadResult } from './load-result.ts'
import { field, num } from './load-result.ts'

const REPORT_SCRIPT = fileURLToPath(new URL('../wrk-report.lua', import.meta.url))

export function hasWrk (): boolean {
  try {
    execFileSync('wrk', ['-v'], { stdio: 'ignore' })
    return true
  } catch (err) {
    // wrk -v prints its banner and exits 1; only a missing binary is ENOENT.
    return field(err, 'code') !== 'ENOENT'
  }
}

export interface ClosedLoopSpec {
  readonly url: string
  readonly connections: number
  readonly threads: number
  readonly durationS: number
  /** Extra request headers, `Name: value` each (wrk -H). */
  readonly headers?: readonly string[]
}

export async function runWrk (group: ChildGroup, spec: ClosedLoopSpec): Promise<LoadResult> {
  const args = [`-t${spec.threads}`, `-c${spec.connections}`, `-d${spec.durationS}s`, '--timeout', '5s']
  for (const h of spec.headers ?? []) args.push('-H', h)
  args.push('-s', REPORT_SCRIPT, spec.url)
  const child = group.start('wrk', 'wrk', args, { capture: true })
  const out = collectOutput(child)
  const hardStop = setTimeout(() => { void group.stop(child, 'SIGKILL') }, (spec.durationS + 30) * 1000)
  const code = await child.exited
  clearTimeout(hardStop)
  const line = out.stdout().split('\n').find((l) => l.startsWith('WRK_JSON '))
  if (code !== 0 || line === undefined) {
    throw new Error(`loadtest: wrk failed (exit ${String(code)}): ${out.stderr().trim()} ${out.stdout().trim()}`)
  }
  const parsed: unknown = JSON.parse(line.slice('WRK_JSON '.length))
  const errors = field(parsed, 'errors')
  const lat = field(parsed, 'latencyUs')
  const requests = num(parsed, 'requests')
  const durationS = num(parsed, 'durationUs') / 1e6
  return {
    tool: 'wrk',
    command: `wrk ${args.map((a) => a === REPORT_SCRIPT ? 'loadtest/wrk-report.lua' : a.includes(' ') ? `'${a}'` : a).join(' ')}`,
    requests,
    durationS,
    reqPerSec: requests / durationS,
    errors: num(errors, 'connect') + num(errors, 'read') + num(errors, 'write') + num(errors, 'timeout'),
    non2xx: num(errors, 'status'),
    latencyUs: { p50: num(lat, 'p50'), p90: num(lat, 'p90'), p99: num(lat, 'p99'), p999: num(lat, 'p999'), max: num(lat, 'max') },
  }
}
