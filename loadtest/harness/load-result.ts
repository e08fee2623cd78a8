// What one load-generator run reports, whichever tool produced it. Latencies are microseconds.

export interface LatencyUs {
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

export interface LoadResult {
  readonly tool: 'wrk' | 'autocannon' | 'paced'
  /** The command line as run, for the report. */
  readonly command: string
  /** Completed responses (any status). */
  readonly requests: number
  readonly durationS: number
  readonly reqPerSec: number
  /** Socket errors and timeouts. */
  readonly errors: number
  /** Responses whose status is not 2xx. */
  readonly non2xx: number
  readonly latencyUs: LatencyUs
}

/** Narrowing helpers for JSON printed by the tools: no `as`, no `any`. */
export function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function num (obj: unknown, key: string): number {
  if (!isRecord(obj)) return Number.NaN
  const v = obj[key]
  return typeof v === 'number' ? v : Number.NaN
}

export function field (obj: unknown, key: string): unknown {
  return isRecord(obj) ? obj[key] : undefined
}
