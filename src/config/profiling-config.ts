import type { JsonObject } from './observability-settings.ts'
import { intOf, strOf, type OptionSpec, type OptionValue } from './options.ts'

// Runtime profiling, behind Knative's switch (knative.dev/pkg observability/runtime): `profiling` is
// "enabled" or "disabled" (default). The queue-proxy reads it from OBSERVABILITY_CONFIG's `runtime`
// object (json.Unmarshal only: any string other than "enabled" is off, a non-string is fatal); the
// activator from config-observability's `runtime-profiling` key (configmap.As trims it, Validate
// refuses anything but the two values: fatal at start, logged and ignored as an update). Knative then
// serves Go's pprof on PROFILING_PORT (8008); Sluice serves the Node equivalent there
// (src/profiling/profiling-server.ts), on loopback unless --profiling-host says otherwise.

/** config-observability's key (knative.dev/pkg observability/runtime NewFromMap). */
export const RUNTIME_PROFILING_KEY = 'runtime-profiling'
export const PROFILING_ENABLED = 'enabled'
export const PROFILING_DISABLED = 'disabled'
/** knative.dev/pkg observability/runtime ProfilingDefaultPort. */
export const PROFILING_DEFAULT_PORT = 8008
export const PROFILING_DEFAULT_HOST = '127.0.0.1'

/** Where the profiling server listens when profiling is on. */
export interface ProfilingListen {
  readonly host: string
  readonly port: number
}

export const PROFILING_OPTIONS: readonly OptionSpec[] = [
  { flag: 'profiling-port', env: 'PROFILING_PORT', kind: 'int', min: 0, max: 65535, default: String(PROFILING_DEFAULT_PORT), help: 'port of the profiling server (CPU profiles, heap snapshots: /debug/pprof/), only when runtime profiling is enabled in config-observability' },
  { flag: 'profiling-host', env: '', kind: 'string', default: PROFILING_DEFAULT_HOST, help: 'address the profiling server listens on (loopback by default: reach it with kubectl port-forward; empty = every address, as Knative\'s ":8008")' },
]

export function profilingListenOf (values: Map<string, OptionValue>): ProfilingListen {
  return Object.freeze({ host: strOf(values, 'profiling-host', PROFILING_DEFAULT_HOST), port: intOf(values, 'profiling-port', PROFILING_DEFAULT_PORT) })
}

/**
 * OBSERVABILITY_CONFIG's `runtime.profiling` as the queue-proxy's json.Unmarshal reads it: the key
 * matched case-insensitively (the last one wins), null leaves the default, a string other than
 * "enabled" is off, another JSON type is a problem.
 */
export function runtimeProfilingOf (runtime: JsonObject | null, problems: string[]): boolean {
  if (runtime === null) return false
  let value: unknown = null
  for (const [key, v] of Object.entries(runtime)) if (key.toLowerCase() === 'profiling' && v !== null) value = v
  if (value === null) return false
  if (typeof value !== 'string') {
    problems.push(`config: OBSERVABILITY_CONFIG.runtime.profiling must be a string ("enabled" or "disabled"), got ${typeof value === 'object' ? 'an object' : `a ${typeof value} (${String(value)})`}`)
    return false
  }
  return value === PROFILING_ENABLED
}

/** config-observability's `runtime-profiling` (absent = disabled); anything but the two values is a problem. */
export function parseRuntimeProfiling (data: ReadonlyMap<string, string>, problems: string[]): boolean {
  const raw = data.get(RUNTIME_PROFILING_KEY)
  if (raw === undefined) return false
  const value = raw.trim()
  if (value === PROFILING_ENABLED) return true
  if (value === PROFILING_DISABLED) return false
  problems.push(`config-observability: ${RUNTIME_PROFILING_KEY}: unsupported profile setting ${JSON.stringify(value.slice(0, 40))} (want "enabled" or "disabled")`)
  return false
}
