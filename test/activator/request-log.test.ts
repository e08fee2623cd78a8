import t from 'tap'
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

t.test('bad OBSERVABILITY_CONFIG is a config error for the activator too', async (t) => {
  await t.rejects(startActivator(t, [], {}, { OBSERVABILITY_CONFIG: '{"enableRequestLog": true, "requestLogTemplate": "{{range .X}}"}' }), /OBSERVABILITY_CONFIG\.requestLogTemplate: template: requestLog:1: "range" is not supported/)
})
