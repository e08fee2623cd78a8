import { readFileSync } from 'node:fs'
import t from 'tap'
import { compileRequestLogTemplate } from '../../src/config/observability-config.ts'
import { GoHttpRequest, MUTATIONS_NONE } from '../../src/go/go-http-request.ts'
import { GoTemplateError, type GoTemplate } from '../../src/go/go-template.ts'
import { GoExecError } from '../../src/go/go-value.ts'
import { requestLogTemplateInput } from '../../src/proxy/knative-request-log.ts'
import { inbound } from '../helpers/inbound-request.ts'

// Go's own output for the request-log template corpus (test/go/golden/corpus.txt), produced by
// test/go/golden/gen/main.go with Go 1.25's text/template over a fixed request, response and
// revision (regenerate: see that file). Here the same values are built with Sluice's model of
// them, each template goes through the request log's own compile path, and the output (or the
// error message) must match Go's byte for byte.

interface Golden { t: string, out?: string, outB64?: string, err?: string, empty?: boolean }

const golden = JSON.parse(readFileSync(new URL('golden/golden.json', import.meta.url), 'utf8')) as Golden[]
const corpus = readFileSync(new URL('golden/corpus.txt', import.meta.url), 'utf8').replace(/\n$/, '').split('\n%%\n')

/** The request gen/main.go reads with http.ReadRequest (the same bytes, as node:http hands them over). */
function input (): ReturnType<typeof requestLogTemplateInput> {
  const raw = [
    'Host', 'example.com:8080',
    'User-Agent', 'curl/8.5.0',
    'Accept', 'text/html',
    'accept', 'application/json',
    'Content-Length', '11',
    'Referer', 'https://ref.example/page?x=<y>&z=\'"',
    'traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'X-B3-Traceid', 'b3b3b3',
    'X-Empty', '',
    'x-custom-header', Buffer.from('café <&>', 'utf8').toString('latin1'),
  ]
  const req = new GoHttpRequest(inbound({ method: 'POST', url: '/api/v1/items%2Fx?q=1&b=%20two&a=3&a=4', raw, remote: ['10.1.2.3', 54321] }), MUTATIONS_NONE)
  return requestLogTemplateInput(req, 201, 1234, 0.001234567, {
    Name: 'hello-00001',
    Namespace: 'default',
    Service: 'hello',
    Configuration: 'hello',
    PodName: 'hello-00001-deployment-7d9f-x2x',
    PodIP: '10.0.0.9',
  }, 'queue-proxy')
}

/** What Knative's request log gets for `text`: the rendered line, or Go's error. */
function render (text: string): Golden {
  let tmpl: GoTemplate
  try {
    tmpl = compileRequestLogTemplate(text)
  } catch (err) {
    if (err instanceof GoTemplateError) return { t: text, err: err.message }
    throw err
  }
  try {
    const out = tmpl.render(input())
    if (out === '') return { t: text, empty: true }
    // Go writes bytes (outB64 when they are not UTF-8); a JS string that is well formed is UTF-8 text.
    return out.isWellFormed() ? { t: text, out } : { t: text, outB64: Buffer.from(out, 'utf8').toString('base64') }
  } catch (err) {
    if (err instanceof GoExecError) return { t: text, err: err.message }
    throw err
  }
}

t.test('the corpus and Go\'s golden output line up', async (t) => {
  t.ok(golden.length >= 300, `${golden.length} templates`)
  t.same(golden.map((g) => g.t), corpus, 'golden.json was generated from corpus.txt (regenerate it: test/go/golden/gen/main.go)')
})

/**
 * Where Sluice knowingly differs from Go, with why; the test pins what Sluice gives instead, so a
 * change either way is noticed.
 * - Go strings are bytes and ours are Unicode text: a slice through the middle of a UTF-8 sequence
 *   keeps the stray byte in Go and becomes U+FFFD here.
 * - url.Userinfo.Password returns (string, bool), which templates cannot call (Go: "invalid function
 *   signature"); the model has no Password method, so the error names a missing field instead.
 */
const KNOWN_DIFFERENCES: ReadonlyMap<string, Golden> = new Map([
  ['{{slice "héllo" 1 2 | printf "%q"}}', { t: '{{slice "héllo" 1 2 | printf "%q"}}', out: '"\uFFFD"\n' }],
  ['{{.Request.URL.User.Password}}', {
    t: '{{.Request.URL.User.Password}}',
    err: 'template: requestLog:1:10: executing "requestLog" at <.Request.URL.User.Password>: can\'t evaluate field Password in type *url.Userinfo',
  }],
])

t.test('each template renders as Go renders it, or fails with Go\'s message', async (t) => {
  let failed = 0
  for (const g of golden) {
    const got = render(g.t)
    const want = KNOWN_DIFFERENCES.get(g.t) ?? g
    if (t.same(got, want, JSON.stringify(g.t)) === false) failed++
  }
  t.equal(failed, 0, `${failed} of ${golden.length} differ from Go`)
  for (const known of KNOWN_DIFFERENCES.keys()) t.ok(corpus.includes(known), `known difference still in the corpus: ${known}`)
})
