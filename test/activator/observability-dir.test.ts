import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Activator } from '../../src/activator/activator-server.ts'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { ConfigDirWatcher, readConfigDir } from '../../src/config/config-dir-watcher.ts'
import type { ObservabilityConfig } from '../../src/config/observability-settings.ts'
import { OBSERVABILITY_KEYS, parseObservabilityConfigMap, parseObservabilityConfigMapUpdate } from '../../src/config/observability-configmap.ts'
import { configMapDir, createClient, route, send, spec, startActivator, startFakePod, until } from './fixtures.ts'
import { captureLogger } from './sources/capture-logger.ts'

// config-observability mounted as a directory (--observability-config-dir), as Knative's activator
// reads the ConfigMap: the request log follows its keys, updates apply while running, a bad update
// is logged and the current settings stay, a bad directory at start is a config error; a template
// that does not parse at start leaves the request log off and the activator serves.

t.test('the ConfigMap keys as Knative parses them', async (t) => {
  const parse = (data: Record<string, string>): { problems: string[], enabled: boolean, text: string, probes: boolean } => {
    const problems: string[] = []
    const c = parseObservabilityConfigMap(new Map(Object.entries(data)), problems)
    return { problems, enabled: c.requestLogTemplate !== null, text: c.requestLogTemplateText, probes: c.enableProbeRequestLog }
  }
  const empty = parse({})
  t.same(empty.problems, [])
  t.equal(empty.enabled, false, 'off by default')
  t.match(empty.text, /^\{"httpRequest"/, 'Knative\'s default template when the key is absent')
  t.equal(parse({ 'logging.enable-request-log': 'true' }).enabled, true, 'on with the default template')
  t.equal(parse({ 'logging.enable-request-log': 'True', 'logging.request-log-template': '  {{.Request.Method}}\n  ' }).text, '{{.Request.Method}}', 'template trimmed as configmap.As does')
  t.equal(parse({ 'logging.enable-request-log': '1', 'logging.enable-probe-request-log': 't' }).probes, true, 'strconv.ParseBool spellings')
  t.match(parse({ 'logging.enable-request-log': 'yes' }).problems, [/failed to parse "logging\.enable-request-log": not a boolean/])
  t.match(parse({ 'logging.enable-request-log': ' true' }).problems, [/not a boolean/], 'booleans are not trimmed (Go does not)')
  t.match(parse({ 'logging.enable-request-log': 'true', 'logging.request-log-template': '' }).problems, [/"logging\.enable-request-log" was set to true, but no "logging\.request-log-template" was specified/])
  const bad = parseObservabilityConfigMap(new Map([['logging.enable-request-log', 'true'], ['logging.request-log-template', '{{.Request.Method']]), [])
  t.equal(bad.requestLogTemplate, null, 'a template that does not parse: no request log')
  t.equal(bad.requestLogTemplateError?.message, 'template: requestLog:2: unclosed action started at requestLog:1', 'Go\'s parse error, kept to be logged')
  const updateProblems: string[] = []
  parseObservabilityConfigMapUpdate(new Map([['logging.request-log-template', '{{.Request.Method']]), updateProblems)
  t.same(updateProblems, ['config-observability: logging.request-log-template: template: requestLog:2: unclosed action started at requestLog:1'], 'as an update it is rejected, even with the log off (Knative validates it)')
})

t.test('start-up with a template that does not parse: one error line, no request log, serving; a good update turns the log on', async (t) => {
  const lines: string[] = []
  const { logger, lines: logLines } = captureLogger()
  const pod = await startFakePod(t, (_req, res) => { res.end('hi') })
  const dir = configMapDir(t, { 'logging.enable-request-log': 'true', 'logging.request-log-template': 'first {{if}}' })
  const loaded = loadActivatorConfig(['--source', 'api', '--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0', '--observability-config-dir', dir], { POD_NAME: 'activator-test' })
  t.same(loaded.problems, [], 'not a config error')
  if (loaded.config === null) return
  const activator = new Activator(loaded.config, logger, { requestLogWriter: (l) => { lines.push(l) }, configDirReloadMs: 20 })
  const { serving } = await activator.listen()
  t.teardown(() => activator.close())
  const url = `http://127.0.0.1:${serving}`
  activator.registry.upsert(spec('o11y', [pod.dest], 0))
  await until(() => activator.registry.lookup('default', 'o11y')?.readyCount === 1)
  const client = createClient(t)
  t.equal((await send(client, url, { headers: route('o11y') })).status, 200, 'serves')
  const errors = logLines.filter((l) => l.level === 50)
  t.equal(errors.length, 1, 'one error line')
  t.match(errors[0], { msg: 'Error setting up request logger. Request logs will be unavailable.', err: { message: 'template: requestLog:1: missing value for if' } })
  t.equal(activator.knativeRequestLog, null)
  writeFileSync(join(dir, 'logging.request-log-template'), 'fixed {{.Request.Method}}')
  await until(() => activator.knativeRequestLog !== null, 3000, 'a good update applies')
  t.equal((await send(client, url, { headers: route('o11y') })).status, 200)
  await until(() => lines.length === 1)
  t.same(lines, ['fixed GET\n'])
})

t.test('start-up: a missing directory, both sources, a bad key -> one config line each', async (t) => {
  const problemsOf = (argv: string[], env: Record<string, string> = {}): string[] => loadActivatorConfig(['--source', 'api', ...argv], env).problems
  t.match(problemsOf(['--observability-config-dir', '/nonexistent/sluice-o11y']), [/--observability-config-dir "\/nonexistent\/sluice-o11y" cannot be read: ENOENT/])
  const dir = configMapDir(t, { 'logging.enable-request-log': 'true' })
  t.match(problemsOf(['--observability-config-dir', dir], { OBSERVABILITY_CONFIG: '{}' }), [/set OBSERVABILITY_CONFIG or --observability-config-dir, not both/])
  const bad = configMapDir(t, { 'logging.enable-request-log': 'maybe' })
  t.match(problemsOf(['--observability-config-dir', bad]), [/config-observability: failed to parse "logging\.enable-request-log"/])
  t.same(problemsOf(['--observability-config-dir', dir]), [])
})

t.test('the request log follows the mounted ConfigMap while running', async (t) => {
  const lines: string[] = []
  const pod = await startFakePod(t, (_req, res) => { res.end('hi') })
  const dir = configMapDir(t, { 'logging.enable-request-log': 'true', 'logging.request-log-template': 'first {{.Request.Method}} {{.Response.Code}}' })
  const { activator, url } = await startActivator(t, ['--observability-config-dir', dir], { requestLogWriter: (l) => { lines.push(l) }, configDirReloadMs: 20 })
  activator.registry.upsert(spec('o11y', [pod.dest], 0))
  await until(() => activator.registry.lookup('default', 'o11y')?.readyCount === 1)
  const client = createClient(t)
  const get = async (): Promise<void> => { t.equal((await send(client, url, { headers: route('o11y') })).status, 200) }

  await get()
  await until(() => lines.length === 1)
  t.same(lines, ['first GET 200\n'], 'the template from the directory at start')

  const first = activator.knativeRequestLog
  writeFileSync(join(dir, 'logging.request-log-template'), 'second {{.Request.Method}}')
  await until(() => activator.knativeRequestLog !== first, 3000, 'template update applied')
  await get()
  await until(() => lines.length === 2)
  t.equal(lines[1], 'second GET\n', 'an updated template applies to the next request')

  // A broken update is rejected: the current template stays.
  writeFileSync(join(dir, 'logging.request-log-template'), 'third {{.Request.Method')
  await new Promise((resolve) => setTimeout(resolve, 120))
  await get()
  await until(() => lines.length === 3)
  t.equal(lines[2], 'second GET\n', 'a template that does not parse is not taken')

  // Turned off: nothing more is logged.
  writeFileSync(join(dir, 'logging.request-log-template'), 'fourth')
  writeFileSync(join(dir, 'logging.enable-request-log'), 'false')
  await until(() => activator.knativeRequestLog === null, 3000, 'request log turned off')
  await get()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(lines.length, 3, 'off: no line for the last request')
})

t.test('the watcher: a rejected update and an unreadable directory are logged once and change nothing', async (t) => {
  const dir = configMapDir(t, { 'logging.enable-request-log': 'true' })
  const applied: boolean[] = []
  const { logger, lines } = captureLogger()
  const watcher = new ConfigDirWatcher<ObservabilityConfig>({
    name: 'config-observability', dir, keys: OBSERVABILITY_KEYS, intervalMs: 60_000, initial: readConfigDir(dir, OBSERVABILITY_KEYS), logger,
    parse: parseObservabilityConfigMap,
    apply: (c) => { applied.push(c.requestLogTemplate !== null) },
  })
  t.equal(watcher.check(), false, 'unchanged: nothing applied')
  writeFileSync(join(dir, 'logging.enable-request-log'), 'nope')
  t.equal(watcher.check(), false)
  t.equal(watcher.check(), false, 'the same bad content again')
  t.equal(lines.filter((l) => l.msg === 'config-observability update rejected; keeping the current settings').length, 1, 'reported once')
  writeFileSync(join(dir, 'logging.enable-request-log'), 'false')
  t.equal(watcher.check(), true, 'a good update after a bad one applies')
  rmSync(dir, { recursive: true, force: true })
  t.equal(watcher.check(), false, 'directory gone')
  t.match(lines.at(-1), { level: 50, msg: 'cannot read config-observability; keeping the current settings' })
  t.same(applied, [false], 'applied once, with the log off')
})
