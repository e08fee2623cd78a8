// Runs paced-client.ts in its own process (the pinned Node) and maps its JSON to a LoadResult.

import { fileURLToPath } from 'node:url'
import type { ChildGroup } from './child-group.ts'
import { collectOutput } from './child-group.ts'
import type { LoadResult } from './load-result.ts'
import { field, num } from './load-result.ts'

const CLIENT = fileURLToPath(new URL('./paced-client.ts', import.meta.url))

export interface PacedSpec {
  readonly host: string
  readonly port: number
  readonly rate: number
  readonly durationS: number
  readonly connections: number
  /** Extra request headers, `Name: value` each. */
  readonly headers?: readonly string[]
}

export interface PacedResult extends LoadResult {
  /** Every request measured from its due time (includes ~1 ms of timer granularity). */
  readonly correctedUs: LoadResult['latencyUs']
  /** Largest number of due requests that waited for a free connection. */
  readonly backlogMax: number
}

export async function runPaced (group: ChildGroup, spec: PacedSpec): Promise<PacedResult> {
  const args = [spec.host, String(spec.port), String(spec.rate), String(spec.durationS), String(spec.connections), ...(spec.headers ?? [])]
  const child = group.start('paced-client', process.execPath, [CLIENT, ...args], { capture: true })
  const out = collectOutput(child)
  const hardStop = setTimeout(() => { void group.stop(child, 'SIGKILL') }, (spec.durationS + 30) * 1000)
  const code = await child.exited
  clearTimeout(hardStop)
  const line = out.stdout().trim().split('\n').pop() ?? ''
  if (code !== 0 || !line.startsWith('{')) throw new Error(`loadtest: paced client failed (exit ${String(code)}): ${out.stderr().trim()}`)
  const parsed: unknown = JSON.parse(line)
  const lat = field(parsed, 'latencyUs')
  const cor = field(parsed, 'correctedUs')
  const durationS = num(parsed, 'durationS')
  const requests = num(parsed, 'completed')
  return {
    tool: 'paced',
    command: `node loadtest/harness/paced-client.ts ${args.map((a) => a.includes(' ') ? `'${a}'` : a).join(' ')}`,
    requests,
    durationS,
    reqPerSec: requests / durationS,
    errors: num(parsed, 'socketErrors') + num(parsed, 'unanswered') + num(parsed, 'dropped'),
    non2xx: num(parsed, 'non2xx'),
    latencyUs: { p50: num(lat, 'p50'), p90: num(lat, 'p90'), p99: num(lat, 'p99'), p999: num(lat, 'p999'), max: num(lat, 'max') },
    correctedUs: { p50: num(cor, 'p50'), p90: num(cor, 'p90'), p99: num(cor, 'p99'), p999: num(cor, 'p999'), max: num(cor, 'max') },
    backlogMax: num(parsed, 'backlogMax'),
  }
}
