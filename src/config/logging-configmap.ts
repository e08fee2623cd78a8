// Knative's config-logging ConfigMap, for a component's log level (knative.dev/pkg/logging:
// NewConfigFromMap + UpdateLevelFromConfigMap): `loglevel.<component>` when set and not empty,
// else the `level` of `zap-logger-config` (a zap JSON config), else info. Levels are zap's
// (zapcore.Level.UnmarshalText: lower or upper case), mapped to pino's: dpanic -> error,
// panic -> fatal. Unlike Knative, only this component's key is checked, not every `loglevel.*`.

export const ZAP_LOGGER_CONFIG_KEY = 'zap-logger-config'

export function loggingKeys (component: string): readonly string[] {
  return [`loglevel.${component}`, ZAP_LOGGER_CONFIG_KEY]
}

/** zap level names (both cases, as UnmarshalText takes them) -> pino levels. */
const ZAP_TO_PINO: ReadonlyMap<string, string> = new Map([
  ['debug', 'debug'], ['DEBUG', 'debug'],
  ['info', 'info'], ['INFO', 'info'],
  ['warn', 'warn'], ['WARN', 'warn'],
  ['error', 'error'], ['ERROR', 'error'],
  ['dpanic', 'error'], ['DPANIC', 'error'],
  ['panic', 'fatal'], ['PANIC', 'fatal'],
  ['fatal', 'fatal'], ['FATAL', 'fatal'],
])

/** The pino level for `component`; each problem is one line naming its key. */
export function parseLoggingConfigMap (data: ReadonlyMap<string, string>, component: string, problems: string[]): string {
  const key = `loglevel.${component}`
  const own = data.get(key)
  if (own !== undefined && own !== '') {
    const level = ZAP_TO_PINO.get(own)
    if (level === undefined) problems.push(`config-logging: ${key}: invalid logging level: ${own}`)
    return level ?? 'info'
  }
  const zapConfig = data.get(ZAP_LOGGER_CONFIG_KEY)
  if (zapConfig === undefined || zapConfig.trim() === '') return 'info'
  let parsed: unknown
  try {
    parsed = JSON.parse(zapConfig)
  } catch (err) {
    problems.push(`config-logging: ${ZAP_LOGGER_CONFIG_KEY} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`)
    return 'info'
  }
  const raw = typeof parsed === 'object' && parsed !== null && 'level' in parsed ? parsed.level : undefined
  if (raw === undefined || raw === '') return 'info'
  const level = typeof raw === 'string' ? ZAP_TO_PINO.get(raw) : undefined
  if (level === undefined) problems.push(`config-logging: ${ZAP_LOGGER_CONFIG_KEY}: invalid logging level: ${JSON.stringify(raw)}`)
  return level ?? 'info'
}
