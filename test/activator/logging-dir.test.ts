import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Activator } from '../../src/activator/activator-server.ts'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { parseLoggingConfigMap } from '../../src/config/logging-configmap.ts'
import { createRootLogger, setLogLevel, silentLogger } from '../../src/shared/logger.ts'
import { configMapDir, until } from './fixtures.ts'

// config-logging mounted as a directory (--logging-config-dir), as Knative's activator reads the
// ConfigMap: `loglevel.activator` (else zap-logger-config's level) sets the level at start and
// while running, for the root logger and every component logger made from it.

function lineCollector (): { lines: Array<{ level: string, msg: string }>, stream: { write (s: string): void } } {
  const lines: Array<{ level: string, msg: string }> = []
  return { lines, stream: { write (s: string) { lines.push(JSON.parse(s) as { level: string, msg: string }) } } }
}

t.test('levels as Knative reads config-logging', async (t) => {
  const level = (data: Record<string, string>): { level: string, problems: string[] } => {
    const problems: string[] = []
    return { level: parseLoggingConfigMap(new Map(Object.entries(data)), 'activator', problems), problems }
  }
  t.same(level({}), { level: 'info', problems: [] }, 'nothing set: info')
  t.same(level({ 'loglevel.activator': 'debug' }), { level: 'debug', problems: [] })
  t.same(level({ 'loglevel.activator': 'WARN' }), { level: 'warn', problems: [] }, 'zap takes upper case too')
  t.same(level({ 'loglevel.activator': 'dpanic' }), { level: 'error', problems: [] }, 'zap\'s dpanic is pino\'s error')
  t.same(level({ 'loglevel.activator': '', 'zap-logger-config': '{"level": "error", "encoding": "json"}' }), { level: 'error', problems: [] }, 'empty: zap-logger-config\'s level')
  t.same(level({ 'loglevel.autoscaler': 'debug' }).level, 'info', 'another component\'s key is not ours')
  t.match(level({ 'loglevel.activator': 'Debug' }).problems, [/loglevel\.activator: invalid logging level: Debug/], 'mixed case is not a zap level')
  t.match(level({ 'zap-logger-config': '{nope' }).problems, [/zap-logger-config is not valid JSON/])
  t.match(level({ 'zap-logger-config': '{"level": "loud"}' }).problems, [/zap-logger-config: invalid logging level: "loud"/])
})

t.test('a level set on the root reaches every logger made from it, children included', async (t) => {
  const { lines, stream } = lineCollector()
  const root = createRootLogger('info', {}, stream)
  const child = root.child({ component: 'a' })
  const grandchild = child.child({ sub: 'b' })
  grandchild.debug('hidden')
  t.equal(setLogLevel(root, 'debug'), true)
  grandchild.debug('shown')
  child.debug('shown too')
  t.same(lines.map((l) => l.msg), ['shown', 'shown too'])
  setLogLevel(root, 'error')
  child.warn('hidden')
  root.error('kept')
  t.same(lines.map((l) => l.msg), ['shown', 'shown too', 'kept'])
  t.equal(setLogLevel(silentLogger(), 'debug'), false, 'a logger not made by createRootLogger is left alone')
})

t.test('start-up: the directory decides the level; a bad level or directory is one config line', async (t) => {
  const load = (dir: string): ReturnType<typeof loadActivatorConfig> => loadActivatorConfig(['--source', 'api', '--log-level', 'warn', '--logging-config-dir', dir], {})
  t.equal(load(configMapDir(t, { 'loglevel.activator': 'debug' })).config?.logLevel, 'debug', 'loglevel.activator over --log-level')
  t.equal(load(configMapDir(t, {})).config?.logLevel, 'info', 'an empty ConfigMap means info, as in Knative')
  t.match(load(configMapDir(t, { 'loglevel.activator': 'chatty' })).problems, [/config-logging: loglevel\.activator: invalid logging level: chatty/])
  t.match(load('/nonexistent/sluice-logging').problems, [/--logging-config-dir "\/nonexistent\/sluice-logging" cannot be read/])
})

t.test('a running activator follows loglevel.activator; a bad update is rejected and the level stays', async (t) => {
  const dir = configMapDir(t, { 'loglevel.activator': 'info' })
  const loaded = loadActivatorConfig(['--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0', '--source', 'api', '--logging-config-dir', dir], { POD_NAME: 'logging-test' })
  if (loaded.config === null) throw new Error(loaded.problems.join('\n'))
  const { lines, stream } = lineCollector()
  const root = createRootLogger(loaded.config.logLevel, {}, stream)
  const component = root.child({ component: 'made-before-the-change' })
  const activator = new Activator(loaded.config, root, { configDirReloadMs: 20 })
  t.teardown(() => activator.close())
  await activator.listen()

  writeFileSync(join(dir, 'loglevel.activator'), 'debug')
  await until(() => root.level === 'debug', 3000, 'level raised')
  component.debug('debug now')
  t.ok(lines.some((l) => l.msg === 'debug now'), 'a component logger made earlier follows')
  t.ok(lines.some((l) => l.msg === 'config-logging updated'), 'the change is logged')

  writeFileSync(join(dir, 'loglevel.activator'), 'verbose')
  await until(() => lines.some((l) => l.msg === 'config-logging update rejected; keeping the current settings'), 3000, 'rejection logged')
  t.equal(root.level, 'debug', 'the level stays')

  writeFileSync(join(dir, 'loglevel.activator'), 'ERROR')
  await until(() => root.level === 'error', 3000, 'level lowered')
  t.equal(component.level, 'error')
})
