// autocannon in its own process (run by the same pinned Node), so its event loop never shares a thread
// with the bench's bookkeeping. Used for closed-loop load when wrk is missing, and for the
// `overallRate` run the issue names.
//
// Caveats that the report repeats: autocannon records latency in whole milliseconds, and its
// `overallRate` is a per-second budget (each connection sends back-to-back until the second's quota is
// used, then pauses), so it is bursty rather than paced. The paced client (paced-client.ts) is the
// evenly spaced open-loop run.

import { createRequire } from 'node:module'
import type { ChildGroup } from './child-group.ts'
import { collectOutput } from './child-group.ts'
import type { LoadResult } from './load-result.ts'
import { field, num } from './load-result.ts'

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon')
const US_PER_MS = 1000

export interface AutocannonSpec {
  readonly url: string
  readonly connections: number
  readonly durationS: number
  /** Requests per second over all connections; null = as fast as possible (closed loop). */
  readonly overallRate: number | null
  /** Extra request headers, `Name: value` each (autocannon -H). */
  readonly headers?: readonly string[]
}

export async function runAutocannon (group: ChildGroup, spec: AutocannonSpec): Promise<LoadResult> {
  const args = ['-c', String(spec.connections), '-d', String(spec.durationS), '-j']
  if (spec.overallRate !== null) args.push('-R', String(spec.overallRate))
  for (const h of spec.headers ?? []) args.push('-H', h)
  args.push(spec.url)
  const child = group.start('autocannon', process.execPath, [AUTOCANNON, ...args], { capture: true })
  const out = collectOutput(child)
  const hardStop = setTimeout(() => { void group.stop(child, 'SIGKILL') }, (spec.durationS + 30) * 1000)
  const code = await child.exited
  clearTimeout(hardStop)
  const text = out.stdout().trim()
  const start = text.indexOf('{')
  if (code !== 0 || start < 0) throw new Error(`loadtest: autocannon failed (exit ${String(code)}): ${out.stderr().trim()}`)
  const parsed: unknown = JSON.parse(text.slice(start))
  const lat = field(parsed, 'latency')
  const ok = num(parsed, '2xx')
  const non2xx = num(parsed, 'non2xx')
  const durationS = num(parsed, 'duration')
  const requests = ok + non2xx
  return {
    tool: 'autocannon',
    command: `autocannon ${args.map((a) => a.includes(' ') ? `'${a}'` : a).join(' ')}`,
    requests,
    durationS,
    reqPerSec: requests / durationS,
    errors: num(parsed, 'errors') + num(parsed, 'timeouts'),
    non2xx,
    latencyUs: {
      p50: num(lat, 'p50') * US_PER_MS,
      p90: num(lat, 'p90') * US_PER_MS,
      p99: num(lat, 'p99') * US_PER_MS,
      p999: num(lat, 'p99_9') * US_PER_MS,
      max: num(lat, 'max') * US_PER_MS,
    },
  }
}
