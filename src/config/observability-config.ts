import { compileGoTemplate, GoTemplateError, type GoTemplate } from '../go/go-template.ts'
import { parseObservabilitySettings, wantsRequestLog, type ObservabilityConfig } from './observability-settings.ts'

// OBSERVABILITY_CONFIG with its request-log template compiled: the Go template engine is loaded with
// this file. The activator parses with it at start (its ConfigMap updates compile too); the sidecar
// decodes with observability-settings.ts and imports this file only when the request log is on
// (Sidecar.listen), so a default sidecar never loads the engine (issue 12,
// test/cli/lazy-loading.test.ts).

/** Parses the env value and compiles the template when the request log is on; each problem is one `config:` line. */
export function parseObservabilityConfig (raw: string, problems: string[]): ObservabilityConfig {
  return withRequestLogTemplate(parseObservabilitySettings(raw, problems))
}

/** `o` with its template compiled (or Go's parse error kept) when the request log is on; else `o` itself. */
export function withRequestLogTemplate (o: ObservabilityConfig): ObservabilityConfig {
  // As queue-proxy: the template is only built (and so only checked) when the log is enabled.
  if (!wantsRequestLog(o) || o.requestLogTemplate !== null || o.requestLogTemplateError !== null) return o
  let template: GoTemplate | null = null
  let templateError: GoTemplateError | null = null
  try {
    template = compileRequestLogTemplate(o.requestLogTemplateText)
  } catch (err) {
    if (!(err instanceof GoTemplateError)) throw err
    templateError = err
  }
  return Object.freeze({ ...o, requestLogTemplate: template, requestLogTemplateError: templateError })
}

/** The request log's template; throws GoTemplateError with Go's message when Go would not parse it. */
export function compileRequestLogTemplate (text: string): GoTemplate {
  // Knative appends the newline when the template lacks one, so each request is one line.
  return compileGoTemplate(text.endsWith('\n') ? text : `${text}\n`)
}
