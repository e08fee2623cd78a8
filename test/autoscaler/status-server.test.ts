import t from 'tap'
import { request } from 'node:http'
import { runInNewContext } from 'node:vm'
import type { RevisionSample } from '../../src/autoscaler/revision-scaler.ts'
import { STATUS_PAGE_HTML } from '../../src/autoscaler/status-page.ts'
import { StatusServer, type RevisionStatusView, type StatusDocument } from '../../src/autoscaler/status-server.ts'

function sample (i: number, over: Partial<RevisionSample> = {}): RevisionSample {
  return { atMs: 1_700_000_000_000 + i * 2000, desiredPods: 2, readyPods: 1, stableConcurrency: 1.2, panicConcurrency: 3.4, stableRps: 5, panicRps: 9, panicMode: i > 3, ...over }
}

function revision (over: Partial<RevisionStatusView> = {}): RevisionStatusView {
  return {
    namespace: 'default', name: 'hello', containerConcurrency: 1, scalingMetric: 'concurrency', target: 0.7,
    desiredPods: 3, deciderPods: 3, requestedPods: 3, readyPods: 2, pendingPods: 1, terminatingPods: 0,
    observed: { stableConcurrency: 1.5, panicConcurrency: 4.25, stableRps: 7, panicRps: 12 },
    panicMode: true, activeState: 'active', activeStateForMs: 12_000, activatorInPath: true, excessBurstCapacity: -200,
    stableWindowMs: 60_000, panicWindowMs: 6_000, lastStatAtMs: 1_700_000_010_000,
    history: Array.from({ length: 8 }, (_, i) => sample(i)),
    activatorQueueDepth: 4,
    coldStart: null,
    pods: [{ name: 'hello-0001', phase: 'ready', registered: true, servingAddress: '127.0.0.1:1', ageMs: 5000 }, { name: 'hello-0002', phase: 'starting', registered: false, servingAddress: '127.0.0.1:2', ageMs: 100 }],
    ...over,
  }
}

function doc (revisions: RevisionStatusView[]): StatusDocument {
  return {
    version: 1,
    generatedAtMs: 1_700_000_020_000,
    trafficUrl: 'http://127.0.0.1:8080',
    statServer: { connections: 1, frames: 10, messages: 20, badFrames: 0, skippedMessages: 0, port: 8080, clients: 1 },
    revisions,
  }
}

function get (port: number, path: string, method = 'GET'): Promise<{ status: number, type: string, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('serves the page, the JSON document (with ?history), healthz; 404 and 405 otherwise', async (t) => {
  let asked = -1
  const server = new StatusServer({
    port: 0,
    snapshot: (n) => {
      asked = n
      const r = revision()
      return doc([{ ...r, history: r.history.slice(-n) }])
    },
  })
  const port = await server.listen()
  t.teardown(() => server.close())

  const page = await get(port, '/')
  t.equal(page.status, 200)
  t.match(page.type, /text\/html/)
  t.match(page.body, /<title>sluice/)
  t.notMatch(page.body, /<script src=|<link [^>]*href="http/, 'self-contained: no external resources')

  const status = await get(port, '/status?history=3')
  t.equal(status.status, 200)
  t.match(status.type, /application\/json/)
  t.equal(asked, 3)
  const parsed = JSON.parse(status.body) as StatusDocument
  t.equal(parsed.version, 1)
  t.equal(parsed.revisions[0].history.length, 3)
  t.equal(parsed.revisions[0].desiredPods, 3)
  t.equal(parsed.revisions[0].readyPods, 2)

  t.equal((await get(port, '/healthz')).status, 200)
  t.equal((await get(port, '/nope')).status, 404)
  t.equal((await get(port, '/status', 'POST')).status, 405)
})

/** Just enough DOM for the page script: elements with innerHTML/textContent/className. */
class FakeElement {
  id: string
  innerHTML = ''
  textContent = ''
  className = ''
  hidden = true
  offsetWidth = 0
  children: FakeElement[] = []
  constructor (id = '') { this.id = id }
  appendChild (c: FakeElement): FakeElement { this.children.push(c); return c }
  querySelector (): FakeElement | null { return null }
  remove (): void {}
}

t.test('the page script renders a status document (fake DOM)', async (t) => {
  const script = /<script>([\s\S]*)<\/script>/.exec(STATUS_PAGE_HTML)?.[1] ?? ''
  t.ok(script.length > 1000, 'inline script found')
  const elements = new Map<string, FakeElement>()
  const document = {
    getElementById: (id: string) => {
      let e = elements.get(id)
      if (e === undefined) { e = new FakeElement(id); elements.set(id, e) }
      return e
    },
    createElement: () => new FakeElement(),
  }
  let fetched = ''
  const context = {
    document,
    Date,
    Number,
    String,
    Math,
    Object,
    isFinite,
    setTimeout: () => 0,
    fetch: (url: string) => { fetched = url; return new Promise(() => {}) },
    render: null as unknown,
  }
  runInNewContext(script + '\nthis.render = render', context)
  t.match(fetched, /^status\?history=\d+$/, 'polls /status relative to the page')
  const render = context.render
  if (typeof render !== 'function') throw new Error('render not found')
  const coldStart = {
    pod: 'hello-0001',
    origin: 'request' as const,
    originWallMs: 1_700_000_000_000,
    sidecarPrestarted: true,
    phases: [
      { name: 'spawn' as const, atMs: 3.2 },
      { name: 'appListening' as const, atMs: 101.5 },
      { name: 'sidecarReady' as const, atMs: 150 },
      { name: 'activatorProbeOk' as const, atMs: 151 },
      { name: 'firstByte' as const, atMs: null },
    ],
    totalMs: null,
  }
  render(doc([revision({ coldStart }), revision({ name: 'calm', panicMode: false, observed: null, desiredPods: -1, history: [], activeState: 'inactive', activatorQueueDepth: null, pods: [] })]))
  const root = elements.get('revisions')
  t.equal(root?.children.length, 2, 'one card per revision')
  const [hot, calm] = root?.children ?? []
  t.match(hot.className, /panic/, 'panic card highlighted')
  t.match(hot.innerHTML, /hello/)
  t.match(hot.innerHTML, /pill panic/)
  t.match(hot.innerHTML, /<svg/, 'sparklines drawn')
  t.match(hot.innerHTML, /2 <small>\/ 3<\/small>/, 'ready / desired')
  t.match(hot.innerHTML, /hello-0002/)
  t.match(hot.innerHTML, /last cold start \(hello-0001, sidecar pre-started\), ms after the request/, 'the cold-start breakdown')
  t.match(hot.innerHTML, /spawn <b>3\.2<\/b> → app listening <b>102<\/b> → sidecar ready <b>150<\/b> → activator probe ok <b>151<\/b> → first byte –/, 'phases in order, ms after the request')
  t.notMatch(calm.innerHTML, /last cold start/, 'none without a breakdown')
  t.notMatch(calm.className, /panic/)
  t.match(calm.innerHTML, /\? <\/small>|\/ \?/, 'unknown desired shown as ?')
  t.match(elements.get('hint-cmd')?.textContent ?? '', /autocannon -c 20 -d 20 http:\/\/127\.0\.0\.1:8080/)
})
