// The probes the activator answers itself, against Knative's activator chain: HealthHandler
// (healthz_handler.go: kubelet probes, 500 with the health error), the network probe handler
// (ingress `K-Network-Probe: probe`, hash echoed) and ProbeHandler (probe_handler.go: `activator`
// answered with the component name, any other value a 400 naming it as %q of html.EscapeString).
import { createServer, request } from 'node:http'
import t from 'tap'
import { ActivatorProbes } from '../../src/activator/activator-probes.ts'
import { listen } from '../proxy/h1-fixtures.ts'

interface Reply { status: number, body: string, hash: string | undefined }

async function front (t: { teardown (fn: () => void): void }, health: { error: string | null }): Promise<(headers: Record<string, string>) => Promise<Reply>> {
  const probes = new ActivatorProbes({ healthError: () => health.error })
  const server = createServer((req, res) => {
    if (!probes.tryAnswer(req, res)) { res.writeHead(299); res.end('routed') }
  })
  const port = await listen(t, server)
  return async (headers) => await new Promise<Reply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, headers, agent: false }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body, hash: res.headers['k-network-hash'] as string | undefined }) })
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('kubelet probes: 200 while healthy, 500 with the reason otherwise (Knative HealthHandler)', async (t) => {
  const health: { error: string | null } = { error: null }
  const get = await front(t, health)
  t.match(await get({ 'user-agent': 'kube-probe/1.30' }), { status: 200, body: '' })
  t.match(await get({ 'k-kubelet-probe': '1' }), { status: 200 })
  health.error = 'received SIGTERM'
  t.match(await get({ 'user-agent': 'kube-probe/1.30' }), { status: 500, body: 'received SIGTERM\n' })
  t.match(await get({ 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'activator' }), { status: 500 }, 'the kubelet check comes first')
})

t.test('network probes: ingress hash echo, the component name, and a 400 for other values', async (t) => {
  const get = await front(t, { error: null })
  t.match(await get({ 'k-network-probe': 'probe', 'k-network-hash': 'h1' }), { status: 200, body: '', hash: 'h1' })
  t.match(await get({ 'k-network-probe': 'probe' }), { status: 400, body: 'a probe request must contain a non-empty "K-Network-Hash" header\n' })
  t.match(await get({ 'k-network-probe': 'activator' }), { status: 200, body: 'activator' })
  t.match(await get({ 'k-network-probe': 'queue' }), { status: 400, body: 'unexpected probe header value: "queue"\n' })
  t.match(await get({ 'k-network-probe': '<b>"x"&\'y\'' }), { status: 400, body: 'unexpected probe header value: "&lt;b&gt;&#34;x&#34;&amp;&#39;y&#39;"\n' },
    'html-escaped, then quoted, as Go\'s %q of html.EscapeString')
})

t.test('anything else is routed, an empty K-Network-Probe included (Go: Header.Get(...) != "")', async (t) => {
  const get = await front(t, { error: 'unhealthy' })
  t.match(await get({}), { status: 299, body: 'routed' })
  t.match(await get({ 'k-network-probe': '' }), { status: 299 })
  t.match(await get({ 'user-agent': 'Knative-Activator-Probe' }), { status: 299 }, 'the activator\'s own probe UA is for sidecars')
})
