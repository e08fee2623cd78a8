// The --log-level choices: pino's level names, no others.
import t from 'tap'
import { isLogLevel, LOG_LEVELS } from '../../src/config/log-levels.ts'
import { createRootLogger } from '../../src/shared/logger.ts'

t.test('each name is a level pino knows', async (t) => {
  for (const level of LOG_LEVELS) {
    t.ok(isLogLevel(level), level)
    t.doesNotThrow(() => createRootLogger(level, {}, { write: () => {} }), `pino accepts ${level}`)
  }
})

t.test('other names are not levels', async (t) => {
  for (const name of ['', 'INFO', 'warning', 'verbose', 'debug ', 'toString']) t.notOk(isLogLevel(name), JSON.stringify(name))
})
