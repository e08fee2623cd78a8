import { compileGoTemplate, GoTemplateError, type GoTemplate } from '../shared/go-template.ts'

// Knative's OBSERVABILITY_CONFIG (the queue-proxy env, JSON of config-observability; bad JSON is
// fatal in Knative too). Sluice honours the request log: `enableRequestLog`, `requestLogTemplate`
// (a Go text/template, compiled here so a bad one stops the start) and `enableProbeRequestLog`.
// `requestMetrics`, `tracing` and `runtime` are accepted (objects) and not acted on.

export interface ObservabilityConfig {
  /** The compiled request-log template; null = no request log (disabled, or no template). */
  readonly requestLogTemplate: GoTemplate | null
  readonly enableProbeRequestLog: boolean
}

export const NO_OBSERVABILITY: ObservabilityConfig = Object.freeze({ requestLogTemplate: null, enableProbeRequestLog: false })

const BOOL_FIELDS = ['enableRequestLog', 'enableProbeRequestLog'] as const
const OBJECT_FIELDS = ['requestMetrics', 'tracing', 'runtime'] as const

/** Parses the env value; problems get one `config:` line each. */
export function parseObservabilityConfig (raw: string, problems: string[]): ObservabilityConfig {
  if (raw.trim() === '') return NO_OBSERVABILITY
  let v: unknown
  try {
    v = JSON.parse(raw)
  } catch (err) {
    problems.push(`config: OBSERVABILITY_CONFIG is not valid JSON: ${(err as Error).message}`)
    return NO_OBSERVABILITY
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    problems.push('config: OBSERVABILITY_CONFIG must be a JSON object')
    return NO_OBSERVABILITY
  }
  const o = v as Record<string, unknown>
  let ok = true
  for (const f of BOOL_FIELDS) {
    if (o[f] !== undefined && typeof o[f] !== 'boolean') { problems.push(`config: OBSERVABILITY_CONFIG.${f} must be a boolean`); ok = false }
  }
  for (const f of OBJECT_FIELDS) {
    const x = o[f]
    if (x !== undefined && x !== null && (typeof x !== 'object' || Array.isArray(x))) { problems.push(`config: OBSERVABILITY_CONFIG.${f} must be an object`); ok = false }
  }
  const source = o.requestLogTemplate
  if (source !== undefined && typeof source !== 'string') { problems.push('config: OBSERVABILITY_CONFIG.requestLogTemplate must be a string'); ok = false }
  if (!ok || o.enableRequestLog !== true || typeof source !== 'string' || source === '') {
    return Object.freeze({ requestLogTemplate: null, enableProbeRequestLog: o.enableProbeRequestLog === true })
  }
  try {
    // Knative appends the newline when the template lacks one, so each request is one line.
    const template = compileGoTemplate(source.endsWith('\n') ? source : `${source}\n`)
    return Object.freeze({ requestLogTemplate: template, enableProbeRequestLog: o.enableProbeRequestLog === true })
  } catch (err) {
    if (!(err instanceof GoTemplateError)) throw err
    problems.push(`config: OBSERVABILITY_CONFIG.requestLogTemplate: ${err.message}`)
    return NO_OBSERVABILITY
  }
}
