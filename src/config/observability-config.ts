import { compileGoTemplate, GoTemplateError, type GoTemplate } from '../go/go-template.ts'

// Knative's OBSERVABILITY_CONFIG: the queue-proxy env holding config-observability as JSON
// (pkg/observability/config.go; queue-proxy's json.Unmarshal failing is fatal, here a config error
// and exit 2). Decoded as Go's encoding/json fills the struct: keys match field names
// case-insensitively, a later key wins, null leaves the default, unknown keys are ignored, a value
// of the wrong JSON type is an error.
//
// Honoured: the request log. `enableRequestLog` + a non-empty `requestLogTemplate` (a Go
// text/template, compiled here) turn it on; `enableProbeRequestLog` adds probes. A template that
// does not parse is not a config error: as queue-proxy ("Error setting up request logger"), the
// proxy logs it once and serves without a request log (requestLogTemplateError). `requestMetrics`, `tracing` and `runtime` are checked to be objects and kept for
// later use; nothing acts on them yet.

export type JsonObject = Readonly<Record<string, unknown>>

export interface ObservabilityConfig {
  readonly enableRequestLog: boolean
  /** The template text as configured ('' = none). */
  readonly requestLogTemplateText: string
  /** The compiled template when the request log is on (enabled and a template given), else null. */
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

/** Parses the env value; each problem is one `config:` line. */
export function parseObservabilityConfig (raw: string, problems: string[]): ObservabilityConfig {
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
  let template: GoTemplate | null = null
  let templateError: GoTemplateError | null = null
  // As queue-proxy: the template is only built (and so only checked) when the log is enabled.
  if (enableRequestLog && text !== '') {
    try {
      template = compileRequestLogTemplate(text)
    } catch (err) {
      if (!(err instanceof GoTemplateError)) throw err
      templateError = err
    }
  }
  return Object.freeze({
    enableRequestLog,
    requestLogTemplateText: text,
    requestLogTemplate: template,
    requestLogTemplateError: templateError,
    enableProbeRequestLog: values.get('enableProbeRequestLog') === true,
    requestMetrics: objectOf(values.get('requestMetrics')),
    tracing: objectOf(values.get('tracing')),
    runtime: objectOf(values.get('runtime')),
  })
}

/** The request log's template; throws GoTemplateError with Go's message when Go would not parse it. */
export function compileRequestLogTemplate (text: string): GoTemplate {
  // Knative appends the newline when the template lacks one, so each request is one line.
  return compileGoTemplate(text.endsWith('\n') ? text : `${text}\n`)
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
