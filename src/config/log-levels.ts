/** pino's level names, the `--log-level` choices of every mode. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

export type LogLevel = typeof LOG_LEVELS[number]

const LEVELS: ReadonlySet<string> = new Set(LOG_LEVELS)

export function isLogLevel (name: string): name is LogLevel {
  return LEVELS.has(name)
}
