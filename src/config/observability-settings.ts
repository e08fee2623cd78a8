import type { GoTemplate, GoTemplateError } from '../go/go-template.ts'

// Knative's OBSERVABILITY_CONFIG: the queue-proxy env holding config-observability as JSON
// (pkg/observability/config.go; queue-proxy's json.Unmarshal failing is fatal, here a config error
// and exit 2). Decoded as Go's encoding/json fills the struct: keys match field names
// case-insensitively, a later key wins, null leaves the default, unknown keys are ignored, a value
// of the wrong JSON type is an error.
//
// Honoured: the request log. `enableRequestLog` + a non-empty `requestLogTemplate` (a Go
// text/template) turn it on; `enableProbeRequestLog` adds probes. A template that does not parse is
// not a config error: as queue-proxy ("Error setting up request logger"), the proxy logs it once and
// serves without a request log (requestLogTemplateError). `requestMetrics`, `tracing` and `runtime`
// are checked to be objects and kept for later use.
//
// This file decodes the settings only: it does not compile the template, so it does not load the Go
// template engine (src/go/go-template-*.ts), which a default sidecar never runs (issue 12). The
// template is compiled by observability-config.ts (withRequestLogTemplate), which the sidecar imports
// only when wantsRequestLog() (Sidecar.listen); the activator parses with it directly.

export type JsonObject = Readonly<Record<string, unknown>>

export interface ObservabilityConfig {
  readonly enableRequestLog: boolean
  /** The template text as configured ('' = none). */
  readonly requestLogTemplateText: string
  /** The compiled template when the request log is on (enabled and a template given), else null; always null from parseObservabilitySettings (not compiled yet). */
  readonly requestLogTemplate: GoTemplate | null
  /** Go's parse error when the template (enabled) does not parse: logged once, the request log is off. */
  readonly requestLogTemplateError: GoTemplateError | null
  readonly enableProbeRequestLog: boolean
  /** Knative's `requestMetrics` (OTel exporter settings); null when absent. Not acted on. */
  readonly requestMetrics: JsonObject | null
  /** Knative's `tracing`; null when absent. Not acted on. */
  readonly tracing: JsonObject | null
  /** Knative's `runtime` (profiling, export interval); null when absent. Not acted on. */
  readonly runtime: JsonObject | null
}

export const NO_OBSERVABILITY: ObservabilityConfig = Object.freeze({
  enableRequestLog: false,
  requestLogTemplateText: '',
  requestLogTemplate: null,
  requestLogTemplateError: null,
  enableProbeRequestLog: false,
  requestMetrics: null,
  tracing: null,
  runtime: null,
})

type FieldKind = 'bool' | 'string' | 'object'

const FIELDS: ReadonlyArray<readonly [string, FieldKind]> = [
  ['enableRequestLog', 'bool'],
  ['requestLogTemplate', 'string'],
  ['enableProbeRequestLog', 'bool'],
  ['requestMetrics', 'object'],
  ['tracing', 'object'],
  ['runtime', 'object'],
]

/** True when the settings turn the request log on, so its template must be compiled (as queue-proxy: only then is it checked). */
export function wantsRequestLog (o: ObservabilityConfig): boolean {
  return o.enableRequestLog && o.requestLogTemplateText !== ''
}

/** Decodes the env value, without compiling the template; each problem is one `config:` line. */
export function parseObservabilitySettings (raw: string, problems: string[]): ObservabilityConfig {
  if (raw === '') return NO_OBSERVABILITY
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (err) {
    problems.push(`config: OBSERVABILITY_CONFIG is not valid JSON: ${err instanceof Error ? err.message : String(err)}`)
    return NO_OBSERVABILITY
  }
  if (parsed === null) return NO_OBSERVABILITY // Go: null into a struct is a no-op
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(`config: OBSERVABILITY_CONFIG must be a JSON object, got ${jsonType(parsed)}`)
    return NO_OBSERVABILITY
  }
  const values = new Map<string, unknown>()
  const before = problems.length
  for (const [key, value] of Object.entries(parsed)) {
    const field = FIELDS.find(([name]) => name.toLowerCase() === key.toLowerCase())
    if (field === undefined || value === null) continue
    const [name, kind] = field
    const ok = kind === 'object' ? typeof value === 'object' && !Array.isArray(value) : typeof value === (kind === 'bool' ? 'boolean' : 'string')
    if (!ok) {
      problems.push(`config: OBSERVABILITY_CONFIG.${name} must be ${kind === 'bool' ? 'a boolean' : kind === 'string' ? 'a string' : 'an object'}, got ${jsonType(value)}`)
      continue
    }
    values.set(name, value)
  }
  if (problems.length > before) return NO_OBSERVABILITY
  const enableRequestLog = values.get('enableRequestLog') === true
  const text = stringOf(values.get('requestLogTemplate'))
  return Object.freeze({
    enableRequestLog,
    requestLogTemplateText: text,
    requestLogTemplate: null,
    requestLogTemplateError: null,
    enableProbeRequestLog: values.get('enableProbeRequestLog') === true,
    requestMetrics: objectOf(values.get('requestMetrics')),
    tracing: objectOf(values.get('tracing')),
    runtime: objectOf(values.get('runtime')),
  })
}

function stringOf (v: unknown): string { return typeof v === 'string' ? v : '' }

function objectOf (v: unknown): JsonObject | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null
  const copy: Record<string, unknown> = { ...v }
  deepFreeze(copy)
  return copy
}

/** Freezes a parsed JSON value and everything in it (kept in the frozen config). */
function deepFreeze (v: unknown): void {
  if (typeof v !== 'object' || v === null) return
  for (const x of Object.values(v)) deepFreeze(x)
  Object.freeze(v)
}

function jsonType (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  switch (typeof v) {
    case 'string': return `a string (${JSON.stringify(v).slice(0, 40)})`
    case 'number': return `a number (${String(v)})`
    case 'boolean': return `a boolean (${String(v)})`
    default: return 'an object'
  }
}
