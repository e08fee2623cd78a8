import t from 'tap'
import type { IncomingMessage } from 'node:http'
import { WebSocketServer } from 'ws'
import { ManualClock } from '../../src/shared/clock.ts'
import { echoOnce, openWebSocket, route, spec, startActivator, startFakePod, until } from './fixtures.ts'

const open = openWebSocket

t.test('websockets are buffered at zero, forwarded with the activator headers, and count as in flight', async (t) => {
  const { activator, url } = await startActivator(t)
  const pod = await startFakePod(t)
  const wss = new WebSocketServer({ server: pod.server })
  let handshake: IncomingMessage | null = null
  wss.on('connection', (socket, req) => {
    handshake = req
    socket.on('message', (data) => { socket.send(`echo ${String(data)}`) })
  })
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  activator.registry.upsert(spec('ws', [], 1))
  const wsUrl = url.replace('http:', 'ws:') + '/socket'
  const opening = open(wsUrl, route('ws', { host: 'chat.example' }))
  await until(() => activator.registry.lookup('default', 'ws')?.throttler.queued === 1, 2000, 'tunnel buffered')
  activator.registry.upsert(spec('ws', [pod.dest], 1))
  const ws = await opening
  t.equal(await echoOnce(ws, 'hi'), 'echo hi')
  const h = (handshake as IncomingMessage | null)?.headers ?? {}
  t.equal(h['k-proxy-request'], 'activator')
  t.equal(h['k-original-host'], 'chat.example')
  t.equal(h['knative-serving-revision'], undefined)
  const revision = activator.registry.lookup('default', 'ws')
  t.equal(revision?.throttler.inFlight, 1, 'an open tunnel holds its slot')
  t.equal(revision?.proxy.concurrency.inFlight, 1, 'and counts as concurrency')
  // CC=1: a second websocket waits for the first to close.
  const second = open(wsUrl, route('ws'))
  await until(() => revision?.throttler.queued === 1, 2000, 'second buffered')
  ws.close()
  const ws2 = await second
  t.equal(await echoOnce(ws2, 'again'), 'echo again')
  ws2.close()
  await until(() => revision?.throttler.inFlight === 0 && activator.tunnels.size === 0, 2000, 'slots returned')
})

t.test('websocket to an unknown revision: 404', async (t) => {
  const { url } = await startActivator(t)
  await t.rejects(open(url.replace('http:', 'ws:'), route('missing')), /status 404/)
})

t.test('a buffered websocket ends with 504 at the revision timeout', async (t) => {
  const { activator, url } = await startActivator(t, ['--activation-timeout', '0.3'])
  activator.registry.upsert(spec('ws-never', [], 1))
  const start = performance.now()
  await t.rejects(open(url.replace('http:', 'ws:'), route('ws-never')), /status 504/)
  t.ok(performance.now() - start >= 280, 'after the timeout')
  await until(() => activator.registry.lookup('default', 'ws-never')?.throttler.queued === 0 && activator.tunnels.size === 0)
})

t.test('websocket to the only endpoint, which refuses: the endpoint leaves rotation, the websocket waits as a plain retry does (504 at the revision timeout), the slot comes back', async (t) => {
  const { activator, url } = await startActivator(t)
  const pod = await startFakePod(t)
  activator.registry.upsert(spec('gone', [pod.dest], 1, { timeoutSeconds: 1 }))
  await until(() => activator.registry.lookup('default', 'gone')?.readyCount === 1, 2000, 'endpoint ready')
  await pod.close()
  const err = await open(url.replace('http:', 'ws:') + '/socket', route('gone')).then(() => null, (e: Error) => e)
  t.match(err?.message, /status 504/)
  const revision = activator.registry.lookup('default', 'gone')
  await until(() => revision?.readyCount === 0, 2000, 'marked failed')
  await until(() => revision?.throttler.inFlight === 0 && activator.tunnels.size === 0, 2000, 'slot returned')
})

// Knative's activator wraps upgrades in its timeout handler with the revision's timeouts, which a
// hijacked connection never resets: the websocket ends when one passes, counted from its start.
for (const mode of ['knative', 'handshake'] as const) {
  t.test(`--upgrade-timeouts ${mode}: an open websocket ${mode === 'knative' ? 'ends at the revision\'s timeoutSeconds' : 'outlives the revision\'s timeouts'}`, async (t) => {
    const clock = new ManualClock()
    const { activator, url } = await startActivator(t, ['--upgrade-timeouts', mode], { clock })
    const held = await startFakePod(t, () => { /* plain requests never answered */ })
    const wss = new WebSocketServer({ server: held.server })
    wss.on('connection', (socket) => { socket.on('message', (data) => { socket.send(`echo ${String(data)}`) }) })
    t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
    activator.registry.upsert(spec('ws-life', [held.dest], 0, { timeoutSeconds: 2, responseStartTimeoutSeconds: 1 }))
    const ws = await open(url.replace('http:', 'ws:') + '/socket', route('ws-life'))
    t.teardown(() => { ws.terminate() })
    t.equal(await echoOnce(ws, 'early'), 'echo early')
    const plain = fetch(url, { headers: route('ws-life') }) // its 504 proves a sweep passed the deadlines
    await until(() => held.inFlight === 1, 2000, 'the plain request reached the pod')
    const closed = new Promise<void>((resolve) => { ws.once('close', () => { resolve() }) })
    clock.advance(2_000)
    t.equal((await plain).status, 504)
    if (mode === 'knative') {
      await closed
      await until(() => activator.tunnels.size === 0 && activator.registry.lookup('default', 'ws-life')?.proxy.concurrency.inFlight === 0, 2000, 'tunnel ended, concurrency back')
    } else {
      t.equal(await echoOnce(ws, 'late'), 'echo late', 'still open')
      ws.close()
    }
  })
}
