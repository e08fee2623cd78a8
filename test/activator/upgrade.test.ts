import t from 'tap'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import { ManualClock } from '../../src/shared/clock.ts'
import { upgradeRequest } from '../helpers/misbehaving-apps.ts'
import { parseResponses, rawConnect, type RawClient } from '../helpers/raw-client.ts'
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

// A buffered tunnel reads its client socket (upgrade-tunnel.ts watchClient): a client that leaves is
// seen at once, as Go's background read sees it, not at the revision's timeout. The clock is a
// ManualClock that never moves, so no deadline can be what released it. A bare FIN used to be seen
// only by chance (the accepted socket is not half-open, and its handle kept reading into an empty
// buffer, so EOF closed it); a frame sent first sits unread in the buffer and hid the FIN.
for (const [what, leave] of [
  ['its FIN', (c: RawClient) => { c.socket.end() }],
  ['a frame, then its FIN', (c: RawClient) => { c.socket.end(maskedFrame('bye')) }],
  ['a frame, then a reset', (c: RawClient) => { c.socket.write(maskedFrame('bye'), () => { c.socket.resetAndDestroy() }) }],
] as const) {
  t.test(`a websocket buffered at zero whose client leaves (${what}) is released at once: no clock advance, no slot, the cold start abandoned`, async (t) => {
    const clock = new ManualClock()
    const { activator, ports } = await startActivator(t, [], { clock })
    activator.registry.upsert(spec('ws-left', [], 1))
    const revision = activator.registry.lookup('default', 'ws-left')
    if (revision === undefined) throw new Error('revision missing')
    const c = await rawConnect(ports.serving)
    t.teardown(() => { c.socket.destroy() })
    c.socket.write(upgradeRequest(WS_LEFT_ROUTE))
    await until(() => revision.throttler.queued === 1, 2000, 'tunnel buffered')
    leave(c)
    await until(() => revision.throttler.queued === 0 && activator.tunnels.size === 0, 2000, 'left the buffer')
    t.equal(c.text(), '', 'nothing answered to a client that left')
    t.equal(revision.throttler.inFlight, 0, 'no slot taken')
    t.equal(revision.proxy.concurrency.inFlight, 0, 'counted out')
    t.equal(revision.proxy.coldStartsAbandoned, 1, 'its cold start counted abandoned, as a plain request\'s')
  })
}

t.test('frames a buffered client sends before the 101 reach the pod intact and in order once it is ready', async (t) => {
  const { activator, ports } = await startActivator(t)
  const pod = await startFakePod(t)
  const wss = new WebSocketServer({ server: pod.server })
  wss.on('connection', (socket) => { socket.on('message', (data) => { socket.send(`echo ${String(data)}`) }) })
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  activator.registry.upsert(spec('ws-early', [], 1))
  const revision = activator.registry.lookup('default', 'ws-early')
  if (revision === undefined) throw new Error('revision missing')
  const c = await rawConnect(ports.serving)
  t.teardown(() => { c.socket.destroy() })
  // The first frame rides with the handshake (node:http's `head`); the next two come while buffered
  // and are read by the waiting tunnel (its socket's bytesRead says so) before an endpoint is ready.
  const handshake = Buffer.concat([Buffer.from(upgradeRequest('Knative-Serving-Namespace: default\r\nKnative-Serving-Revision: ws-early\r\n')), maskedFrame('one')])
  c.socket.write(handshake)
  await until(() => revision.throttler.queued === 1, 2000, 'tunnel buffered')
  const later = Buffer.concat([maskedFrame('two'), maskedFrame('three')])
  c.socket.write(later)
  const tunnel = [...activator.tunnels][0]
  const socket = tunnel?.socket as (Duplex & { bytesRead: number }) | undefined
  await until(() => (socket?.bytesRead ?? 0) >= handshake.length + later.length, 2000, 'read while buffered')
  t.equal(revision.throttler.queued, 1, 'still buffered')
  activator.registry.upsert(spec('ws-early', [pod.dest], 1))
  await until(() => c.text().includes('echo three'), 2000, 'every early frame echoed')
  const text = c.text()
  t.equal(parseResponses(text)[0]?.status, 101)
  const echoes = text.slice(text.indexOf('\r\n\r\n') + 4)
  t.equal(echoes, '\x81\x08echo one\x81\x08echo two\x81\x0aecho three', 'each frame once, in order')
  c.socket.destroy()
  await until(() => revision.throttler.inFlight === 0 && activator.tunnels.size === 0, 2000, 'slots returned')
})

const WS_LEFT_ROUTE = 'Knative-Serving-Namespace: default\r\nKnative-Serving-Revision: ws-left\r\n'

/** A client's (masked) websocket text frame, short payloads only. */
function maskedFrame (text: string): Buffer {
  const mask = [0x12, 0x34, 0x56, 0x78]
  const payload = Buffer.from(text)
  return Buffer.from([0x81, 0x80 | payload.length, ...mask, ...payload.map((b, i) => b ^ (mask[i % 4] ?? 0))])
}
