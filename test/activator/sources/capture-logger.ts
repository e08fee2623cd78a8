// A pino logger whose lines are kept in memory, parsed, for asserting on what a source logged.

import { pino } from 'pino'
import type { Logger } from '../../../src/shared/logger.ts'

export interface LogLine {
  level: number
  msg: string
  [key: string]: unknown
}

export function captureLogger (level = 'info'): { logger: Logger, lines: LogLine[] } {
  const lines: LogLine[] = []
  const stream = {
    write (line: string): void {
      const parsed: unknown = JSON.parse(line)
      if (typeof parsed === 'object' && parsed !== null && 'msg' in parsed && 'level' in parsed) {
        const { msg, level, ...rest } = parsed
        lines.push({ ...rest, msg: String(msg), level: Number(level) })
      }
    },
  }
  return { logger: pino({ level }, stream), lines }
}
