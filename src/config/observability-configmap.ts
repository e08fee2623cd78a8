import { GoTemplateError, type GoTemplate } from '../go/go-template.ts'
import { compileRequestLogTemplate } from './observability-config.ts'
import { NO_OBSERVABILITY, type ObservabilityConfig } from './observability-settings.ts'
import { parseGoBool } from '../go/go-parse.ts'
import { TELEMETRY_KEYS, telemetryFromConfigMap } from './telemetry-config.ts'

// Knative's config-observability ConfigMap as its keys, for the activator: Knative's activator
// watches the ConfigMap itself (cmd/activator: updateRequestLogFromConfigMap); Sluice reads it
// mounted as a volume (`--observability-config-dir`: one file per key, which the kubelet updates
// when the ConfigMap changes). Parsed as pkg/observability NewFromMap + Validate for the logging
// keys: a missing template key means Knative's default template, booleans as Go's
// strconv.ParseBool, `enable-request-log` without a template is an error. A template Go cannot parse
// makes Knative's Parse fail: at start the activator then has no request log and serves on
// (requestLogTemplateError, logged once); an update with one is rejected and the current settings
// stay (parseObservabilityConfigMapUpdate, for the directory watcher). The metrics and tracing keys
// are telemetry-config.ts's; an update whose metrics or tracing keys do not validate is rejected too.

export const REQUEST_LOG_TEMPLATE_KEY = 'logging.request-log-template'
export const ENABLE_REQUEST_LOG_KEY = 'logging.enable-request-log'
export const ENABLE_PROBE_REQUEST_LOG_KEY = 'logging.enable-probe-request-log'
/** The keys the watcher reads: the request log's, and the metrics and tracing keys an update is validated on. */
export const OBSERVABILITY_KEYS: readonly string[] = [REQUEST_LOG_TEMPLATE_KEY, ENABLE_REQUEST_LOG_KEY, ENABLE_PROBE_REQUEST_LOG_KEY, ...TELEMETRY_KEYS]

/** pkg/observability DefaultRequestLogTemplate. */
export const DEFAULT_REQUEST_LOG_TEMPLATE = '{"httpRequest": {"requestMethod": "{{.Request.Method}}", "requestUrl": "{{js .Request.RequestURI}}", "requestSize": "{{.Request.ContentLength}}", "status": {{.Response.Code}}, "responseSize": "{{.Response.Size}}", "userAgent": "{{js .Request.UserAgent}}", "remoteIp": "{{js .Request.RemoteAddr}}", "serverIp": "{{.Revision.PodIP}}", "referer": "{{js .Request.Referer}}", "latency": "{{.Response.Latency}}s", "protocol": "{{.Request.Proto}}"}, "traceId": "{{.TraceID}}"}'

/** The ConfigMap's data; each problem is one line naming the key. */
export function parseObservabilityConfigMap (data: ReadonlyMap<string, string>, problems: string[]): ObservabilityConfig {
  const before = problems.length
  // configmap.As trims strings; a present key replaces the default, even when empty.
  const text = (data.get(REQUEST_LOG_TEMPLATE_KEY) ?? DEFAULT_REQUEST_LOG_TEMPLATE).trim()
  const enableRequestLog = goBool(data, ENABLE_REQUEST_LOG_KEY, problems)
  const enableProbeRequestLog = goBool(data, ENABLE_PROBE_REQUEST_LOG_KEY, problems)
  if (problems.length > before) return NO_OBSERVABILITY
  if (enableRequestLog && text === '') {
    problems.push(`config-observability: "${ENABLE_REQUEST_LOG_KEY}" was set to true, but no "${REQUEST_LOG_TEMPLATE_KEY}" was specified`)
    return NO_OBSERVABILITY
  }
  let template: GoTemplate | null = null
  if (text !== '') {
    // Knative validates the template whether or not the log is on.
    try {
      const compiled = compileRequestLogTemplate(text)
      if (enableRequestLog) template = compiled
    } catch (err) {
      if (!(err instanceof GoTemplateError)) throw err
      return Object.freeze({ ...NO_OBSERVABILITY, requestLogTemplateText: text, requestLogTemplateError: err })
    }
  }
  return Object.freeze({
    enableRequestLog,
    requestLogTemplateText: text,
    requestLogTemplate: template,
    requestLogTemplateError: null,
    enableProbeRequestLog,
    requestMetrics: null,
    tracing: null,
    runtime: null,
  })
}

/**
 * A changed ConfigMap while running: a template that does not parse rejects the update (one
 * problem line), so the watcher keeps the current settings, as Knative's activator does.
 */
export function parseObservabilityConfigMapUpdate (data: ReadonlyMap<string, string>, problems: string[]): ObservabilityConfig {
  // Knative parses the whole ConfigMap (NewFromMap): metrics or tracing keys that do not validate
  // reject the update too. Their new values themselves take effect at the next start, as in
  // Knative, whose activator builds its meter and tracer providers once.
  telemetryFromConfigMap(data, problems)
  const c = parseObservabilityConfigMap(data, problems)
  if (c.requestLogTemplateError !== null) problems.push(`config-observability: ${REQUEST_LOG_TEMPLATE_KEY}: ${c.requestLogTemplateError.message}`)
  return c
}

/** configmap.As for a bool: strconv.ParseBool of the value as is (not trimmed); absent = false. */
function goBool (data: ReadonlyMap<string, string>, key: string, problems: string[]): boolean {
  const raw = data.get(key)
  if (raw === undefined) return false
  const value = parseGoBool(raw)
  if (value !== null) return value
  problems.push(`config-observability: failed to parse "${key}": not a boolean: ${JSON.stringify(raw.slice(0, 40))}`)
  return false
}
