import { pino, type Logger, type LoggerOptions } from 'pino'

export type { Logger }

/**
 * The one root logger of a process: JSON lines to stdout (fd 1), written synchronously so that
 * the last lines before an exit are never lost. Components take `root.child({ component })`
 * once, at construction.
 */
export function createRootLogger (level: string, bindings: Record<string, string> = {}): Logger {
  const options: LoggerOptions = {
    level,
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }
  return pino(options, pino.destination({ fd: 1, sync: true }))
}

/** A logger that drops everything; for tests and library use. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
