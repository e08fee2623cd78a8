import t from 'tap'
import { createJsonLogger, serializeError } from '../../src/shared/json-logger.ts'
import { createRootLogger, setLogLevel, type Logger } from '../../src/shared/logger.ts'

// The sidecar's JsonLogger writes what pino writes with createRootLogger's options: the same calls
// through both give the same JSON lines (but the time).

function pinoLines (level: string, bindings: Record<string, string>, run: (l: Logger) => void): Array<Record<string, unknown>> {
  const lines: string[] = []
  const root = createRootLogger(level, bindings, { write: (s: string) => { lines.push(s) } })
  run(root)
  return lines.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
}

function jsonLines (level: string, bindings: Record<string, string>, run: (l: Logger) => void): Array<Record<string, unknown>> {
  const lines: string[] = []
  run(createJsonLogger(level, bindings, (line) => { lines.push(line) }))
  return lines.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** Without `time`, which differs; keys in order, as written. */
function comparable (lines: Array<Record<string, unknown>>): string[] {
  return lines.map((l) => { const { time, ...rest } = l; return typeof time === 'string' && !Number.isNaN(Date.parse(time)) ? JSON.stringify(rest) : `bad time ${String(time)}` })
}

t.test('the same lines as pino with createRootLogger\'s options', async (t) => {
  const cause = new Error('connect refused')
  const err = Object.assign(new TypeError('upstream failed', { cause }), { code: 'ECONNREFUSED', port: 8080 })
  const run = (root: Logger): void => {
    root.info('plain message')
    root.debug({ hidden: true }, 'below the level')
    const child = root.child({ component: 'proxy', revision: 'r-1' })
    child.warn({ ports: { serving: 8012, admin: 8022 }, list: [1, 'a'] }, 'sidecar listening')
    child.error({ err }, 'upstream error')
    child.child({ nested: 1 }).info({ afterMs: 12 })
    child.fatal({ err: 'not an error' }, 'string err')
  }
  const bindings = { mode: 'sidecar', revision: '', pod: 'p' }
  const ours = comparable(jsonLines('info', bindings, run))
  t.same(ours, comparable(pinoLines('info', bindings, run)))
  t.equal(ours.length, 5, 'debug filtered out')
})

t.test('levels: isLevelEnabled, a level set on the root reaches its children, silent', async (t) => {
  const lines: string[] = []
  const root = createJsonLogger('warn', {}, (line) => { lines.push(line) })
  const child = root.child({ component: 'x' })
  t.notOk(child.isLevelEnabled('info'))
  t.ok(child.isLevelEnabled('error'))
  root.level = 'debug'
  child.debug('now on')
  t.equal(lines.length, 1)
  root.level = 'silent'
  child.fatal('off')
  t.equal(lines.length, 1)
  t.throws(() => { root.level = 'loud' }, RangeError)
})

t.test('serializeError: AggregateError members, cycles through cause, non-errors as they are', async (t) => {
  const a = new Error('a')
  const agg = new AggregateError([a, new Error('b')], 'both')
  const s = serializeError(agg) as { type: string, aggregateErrors: Array<{ message: string }> }
  t.equal(s.type, 'AggregateError')
  t.same(s.aggregateErrors.map((e) => e.message), ['a', 'b'])
  const loop = new Error('loop')
  loop.cause = loop
  t.equal((serializeError(loop) as { message: string }).message, 'loop')
  t.equal(serializeError('text'), 'text')
})

t.test('setLogLevel (config-logging) reaches a JsonLogger root and the children made before, as a pino root\'s', async (t) => {
  for (const [name, make] of [['json', (sink: (s: string) => void) => createJsonLogger('info', {}, sink)], ['pino', (sink: (s: string) => void) => createRootLogger('info', {}, { write: sink })]] as const) {
    const lines: string[] = []
    const root = make((s) => { lines.push(s) })
    const child = root.child({ component: 'revision' })
    child.debug('dropped at info')
    t.equal(setLogLevel(root, 'debug'), true, `${name}: the root is known`)
    child.debug('kept at debug')
    t.same(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['kept at debug'], `${name}: the child follows`)
  }
  t.equal(setLogLevel(createJsonLogger('info').child({}), 'debug'), false, 'a child is not a root')
})
