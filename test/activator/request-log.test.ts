import t from 'tap'
import { Activator } from '../../src/activator/activator-server.ts'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { captureLogger } from './sources/capture-logger.ts'
import { createClient, route, send, spec, startActivator, startFakePod, until } from './fixtures.ts'

// The activator writes Knative's request log as Knative's activator does: the revision it routed to
// (namespace, name; no pod fields), one line per proxied request, from OBSERVABILITY_CONFIG's template.

const TEMPLATE = '{{.Revision.Namespace}}/{{.Revision.Name}} {{.Request.Method}} {{js .Request.RequestURI}} {{.Response.Code}} {{.Response.Size}} [{{.Revision.PodName}}]'

t.test('one line per proxied request, with the routed revision', async (t) => {
  const lines: string[] = []
  const pod = await startFakePod(t, (_req, res) => { res.end('hello') })
  const { activator, url } = await startActivator(t, [], { requestLogWriter: (l) => { lines.push(l) } }, { OBSERVABILITY_CONFIG: JSON.stringify({ enableRequestLog: true, requestLogTemplate: TEMPLATE }) })
  activator.registry.upsert(spec('logged', [pod.dest], 0))
  await until(() => activator.registry.lookup('default', 'logged')?.readyCount === 1)
  const client = createClient(t)
  t.equal((await send(client, url, { path: '/a?b=c', headers: route('logged') })).status, 200)
  t.equal((await send(client, url, { headers: route('missing') })).status, 404)
  await until(() => lines.length === 1)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(lines, ['default/logged GET /a?b\\u003Dc 200 5 []\n'], 'the 404 for an unknown revision is not a revision request')
})

t.test('OBSERVABILITY_CONFIG: malformed JSON is a config error for the activator too', async (t) => {
  await t.rejects(startActivator(t, [], {}, { OBSERVABILITY_CONFIG: '{"enableRequestLog": true,' }), /config: OBSERVABILITY_CONFIG is not valid JSON/)
})

t.test('OBSERVABILITY_CONFIG: a template that does not parse: one error line, the activator serves without a request log', async (t) => {
  const loaded = loadActivatorConfig(['--source', 'api', '--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0'],
    { POD_NAME: 'activator-test', OBSERVABILITY_CONFIG: JSON.stringify({ enableRequestLog: true, requestLogTemplate: '{{range .X}}' }) })
  t.same(loaded.problems, [], 'not a config error')
  if (loaded.config === null) return
  const { logger, lines: logLines } = captureLogger()
  const lines: string[] = []
  const activator = new Activator(loaded.config, logger, { requestLogWriter: (l) => { lines.push(l) } })
  const { serving } = await activator.listen()
  t.teardown(() => activator.close())
  const pod = await startFakePod(t, (_req, res) => { res.end('hello') })
  activator.registry.upsert(spec('logged', [pod.dest], 0))
  await until(() => activator.registry.lookup('default', 'logged')?.readyCount === 1)
  t.equal((await send(createClient(t), `http://127.0.0.1:${serving}`, { headers: route('logged') })).status, 200, 'serves')
  t.equal(activator.knativeRequestLog, null, 'no request log')
  t.same(lines, [])
  const errors = logLines.filter((l) => l.level === 50)
  t.equal(errors.length, 1, 'one error line')
  // Knative appends the newline, so the missing {{end}} is met at EOF on line 2.
  t.match(errors[0], { msg: 'Error setting up request logger. Request logs will be unavailable.', err: { message: 'template: requestLog:2: unexpected EOF' } })
})
