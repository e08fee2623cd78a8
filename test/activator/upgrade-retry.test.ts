import { spawn } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import t from 'tap'
import { type WebSocket, WebSocketServer } from 'ws'
import type { Activator } from '../../src/activator/activator-server.ts'
import { TRACKER_FAILED, TRACKER_READY } from '../../src/activator/pod-tracker.ts'
import type { EndpointProbe } from '../../src/proxy/endpoint-probe.ts'
import type { Revision } from '../../src/activator/revision.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { upgradeRequest } from '../helpers/misbehaving-apps.ts'
import { parseResponses, rawConnect } from '../helpers/raw-client.ts'
import { createClient, echoOnce, openWebSocket, route, send, spec, startActivator, until, type Teardown } from './fixtures.ts'

// A websocket whose endpoint cannot be connected to is retried on another ready endpoint, like a
// plain request (revision-proxy.ts): the tunnel connects itself before http-proxy-3 gets the client.
// Endpoints here are ready by decree (a probe that says yes to each endpoint once), so a closed port
// or a port that never completes the connect sits in rotation until an upgrade finds out, and an
// endpoint marked failed stays out (its re-probes say no).

function probeOnce (): EndpointProbe {
  const seen = new Set<string>()
  return {
    probe (dest: string): Promise<boolean> {
      const first = !seen.has(dest)
      seen.add(dest)
      return Promise.resolve(first)
    },
  }
}
const ROUTE = 'Knative-Serving-Namespace: default\r\nKnative-Serving-Revision: ws\r\n'

interface EchoServer { dest: string, handshakes: number, held: number, release: () => void }

/**
 * A websocket echo server on `host` (127.0.0.x). Plain HTTP requests are held until `release()`,
 * so the same server stands for a busy endpoint.
 */
async function startEcho (t: Teardown, host = '127.0.0.1'): Promise<EchoServer> {
  const server: Server = createServer()
  const wss = new WebSocketServer({ server })
  const pending: Array<() => void> = []
  const echo: EchoServer = { dest: '', handshakes: 0, held: 0, release: () => { for (const f of pending.splice(0)) f() } }
  server.on('request', (_req, res) => { echo.held++; pending.push(() => { res.end('done') }) })
  wss.on('connection', (ws) => {
    echo.handshakes++
    ws.on('message', (data) => { ws.send(`echo ${String(data)}`) })
  })
  await new Promise<void>((resolve) => { server.listen(0, host, resolve) })
  const address: AddressInfo | string | null = server.address()
  echo.dest = `${host}:${address !== null && typeof address === 'object' ? address.port : 0}`
  t.teardown(() => { echo.release(); for (const c of wss.clients) c.terminate(); wss.close(); server.closeAllConnections(); server.close() })
  return echo
}

/** A port on `host` where nothing listens (connects are refused). */
async function closedPort (host = '127.0.0.1'): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => { server.listen(0, host, resolve) })
  const address: AddressInfo | string | null = server.address()
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
  return `${host}:${address !== null && typeof address === 'object' ? address.port : 0}`
}

/**
 * A port on 127.0.0.1 whose connects never complete: a child process listens with a backlog of 1,
 * then blocks its event loop so it never accepts; once two connections fill the accept queue the
 * kernel drops further SYNs, and a connect waits (for the activator's connect timeout).
 */
async function blackhole (t: Teardown): Promise<string> {
  const child = spawn(process.execPath, ['-e', `
    const s = require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(s.address().port + '\\n', () => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0) })
    })`], { stdio: ['ignore', 'pipe', 'ignore'] })
  t.teardown(() => { child.kill('SIGKILL') })
  const port = await new Promise<number>((resolve, reject) => {
    const onExit = (): void => { reject(new Error('blackhole child exited')) }
    child.once('exit', onExit)
    child.stdout.once('data', (d: Buffer) => { child.off('exit', onExit); resolve(Number(String(d).trim())) })
  })
  const fillers: Socket[] = []
  t.teardown(() => { for (const s of fillers) s.destroy() })
  for (let i = 0; i < 2; i++) {
    const s = connect(port, '127.0.0.1')
    s.on('error', () => {})
    fillers.push(s)
    await new Promise<void>((resolve) => { s.once('connect', resolve) })
  }
  return `127.0.0.1:${port}`
}

async function ready (activator: Activator, dests: string[], cc: number): Promise<Revision> {
  activator.registry.upsert(spec('ws', dests, cc, { lbPolicy: 'first-available' }))
  await until(() => activator.registry.lookup('default', 'ws')?.readyCount === dests.length, 2000, 'endpoints ready')
  const revision = activator.registry.lookup('default', 'ws')
  if (revision === undefined) throw new Error('revision missing')
  return revision
}

/** No admission slot, tracker slot or tunnel left. */
async function settled (activator: Activator, revision: Revision, what: string): Promise<void> {
  await until(() => revision.throttler.inFlight === 0 && revision.throttler.queued === 0 && activator.tunnels.size === 0 &&
    [...revision.trackers()].every((p) => p.inFlight === 0) && revision.proxy.concurrency.inFlight === 0, 2000, `${what}: settled`)
}

function openWs (url: string): Promise<WebSocket> {
  return openWebSocket(url.replace('http:', 'ws:') + '/socket', route('ws'))
}

function trackerOf (revision: Revision, dest: string): { state: number } | undefined {
  return [...revision.trackers()].find((x) => x.dest === dest)
}

t.test('a websocket whose endpoint refuses is retried on another one; the refusing endpoint leaves rotation', async (t) => {
  const { activator, url } = await startActivator(t, [], { probe: probeOnce() })
  const refusing = await closedPort()
  const echo = await startEcho(t, '127.0.0.2') // sorts after 127.0.0.1: first-available tries `refusing` first
  const revision = await ready(activator, [refusing, echo.dest], 1)
  const ws = await openWs(url)
  t.equal(await echoOnce(ws, 'hi'), 'echo hi', 'the handshake and the bytes went to the other endpoint')
  t.equal(echo.handshakes, 1)
  t.equal(trackerOf(revision, refusing)?.state, TRACKER_FAILED, 'the refusing endpoint is out of rotation')
  t.equal(trackerOf(revision, echo.dest)?.state, TRACKER_READY)
  t.equal(revision.throttler.inFlight, 1, 'the open websocket holds one admission slot')
  t.same([...revision.trackers()].map((p) => p.inFlight).sort(), [0, 1], 'and one tracker slot, on the endpoint it uses')
  ws.close()
  await settled(activator, revision, 'websocket closed')
})

t.test('the handshake head bytes and the first frame still reach the endpoint after a retry', async (t) => {
  const { activator, port } = await startActivator(t, [], { probe: probeOnce() }).then((s) => ({ activator: s.activator, port: s.ports.serving }))
  const refusing = await closedPort()
  const echo = await startEcho(t, '127.0.0.2')
  const revision = await ready(activator, [refusing, echo.dest], 1)
  const c = await rawConnect(port)
  t.teardown(() => { c.socket.destroy() })
  // The first frame rides in the handshake's write: it is in http-proxy-3's `head` (or the socket's
  // buffer), which must be intact after the failed connect.
  const mask = [0x12, 0x34, 0x56, 0x78]
  const frame = Buffer.from([0x81, 0x82, ...mask, 'h'.charCodeAt(0) ^ 0x12, 'i'.charCodeAt(0) ^ 0x34])
  c.socket.write(Buffer.concat([Buffer.from(upgradeRequest(ROUTE)), frame]))
  await until(() => c.text().includes('echo hi'), 2000, 'echo of the first frame')
  t.equal(parseResponses(c.text())[0]?.status, 101)
  t.equal(trackerOf(revision, refusing)?.state, TRACKER_FAILED)
  c.socket.destroy()
  await settled(activator, revision, 'client gone')
})

t.test('every endpoint refuses: 502 with the reason after 1 + MAX_RETRIES endpoints, no slot held', async (t) => {
  const { activator, ports } = await startActivator(t, [], { probe: probeOnce() })
  const dests = [await closedPort(), await closedPort(), await closedPort(), await closedPort()]
  const revision = await ready(activator, dests, 0)
  const c = await rawConnect(ports.serving)
  c.socket.write(upgradeRequest(ROUTE))
  await c.closed
  const r = parseResponses(c.text())[0]
  t.equal(r?.status, 502)
  t.equal(r?.body, 'upstream connection failed: ECONNREFUSED\n', 'the existing 502 body')
  t.equal(revision.readyCount, 1, 'three endpoints tried and marked failed')
  await settled(activator, revision, '502')
})

t.test('an endpoint that never completes the connect: timed out, retried on another one', async (t) => {
  const { activator, url } = await startActivator(t, [], { probe: probeOnce() })
  const hole = await blackhole(t)
  const echo = await startEcho(t, '127.0.0.2')
  const revision = await ready(activator, [hole, echo.dest], 1)
  revision.proxy.tunnelConnectTimeoutMs = 150
  const start = performance.now()
  const ws = await openWs(url)
  t.ok(performance.now() - start >= 140, 'after the connect timeout')
  t.equal(await echoOnce(ws, 'late'), 'echo late')
  t.equal(trackerOf(revision, hole)?.state, TRACKER_FAILED, 'the silent endpoint is out of rotation')
  ws.close()
  await settled(activator, revision, 'websocket closed')
})

t.test('a client that leaves while the connect is pending leaks nothing', async (t) => {
  const { activator, ports } = await startActivator(t, [], { probe: probeOnce() })
  const hole = await blackhole(t)
  const revision = await ready(activator, [hole], 1)
  const c = await rawConnect(ports.serving)
  c.socket.write(upgradeRequest(ROUTE))
  await until(() => [...activator.tunnels].some((x) => x.connecting !== null), 2000, 'connecting')
  t.equal(revision.throttler.inFlight, 1, 'the connecting tunnel holds its slot')
  const tunnel = [...activator.tunnels][0]
  const upstream = tunnel?.connecting ?? null
  c.socket.destroy()
  await settled(activator, revision, 'client gone while connecting')
  t.equal(upstream?.destroyed, true, 'the pending connect was abandoned')
  t.equal(trackerOf(revision, hole)?.state, TRACKER_READY, 'a client leaving is not the endpoint\'s fault')
})

t.test('the revision is removed while a connect is pending: 502 once it fails, no retry, nothing held', async (t) => {
  const { activator, ports } = await startActivator(t, [], { probe: probeOnce() })
  const hole = await blackhole(t)
  const other = await closedPort('127.0.0.2') // tried second, were there a retry: its 502 would say ECONNREFUSED
  const revision = await ready(activator, [hole, other], 1)
  revision.proxy.tunnelConnectTimeoutMs = 150
  const c = await rawConnect(ports.serving)
  c.socket.write(upgradeRequest(ROUTE))
  await until(() => [...activator.tunnels].some((x) => x.connecting !== null), 2000, 'connecting')
  activator.registry.remove('default', 'ws')
  await c.closed
  const r = parseResponses(c.text())[0]
  t.equal(r?.status, 502)
  t.equal(r?.body, 'upstream connection failed: UND_ERR_CONNECT_TIMEOUT\n')
  await settled(activator, revision, 'removed while connecting')
})

t.test('the activator closes while a connect is pending: the tunnel ends, nothing held', async (t) => {
  const { activator, ports } = await startActivator(t, [], { probe: probeOnce() })
  const hole = await blackhole(t)
  const revision = await ready(activator, [hole], 1)
  const c = await rawConnect(ports.serving)
  c.socket.write(upgradeRequest(ROUTE))
  await until(() => [...activator.tunnels].some((x) => x.connecting !== null), 2000, 'connecting')
  const upstream = [...activator.tunnels][0]?.connecting ?? null
  await activator.close()
  await c.closed
  await settled(activator, revision, 'closed while connecting')
  t.equal(upstream?.destroyed, true, 'the pending connect was abandoned')
})

t.test('connect refused while the other endpoint is full: the websocket waits for room, then connects there', async (t) => {
  const { activator, url } = await startActivator(t, [], { probe: probeOnce() })
  const busy = await startEcho(t, '127.0.0.1')
  const refusing = await closedPort('127.0.0.2') // sorts after busy: first-available fills busy first
  const revision = await ready(activator, [busy.dest, refusing], 1)
  const client = createClient(t)
  const plain = send(client, url, { headers: route('ws') })
  await until(() => busy.held === 1, 2000, 'a plain request held by the first endpoint')
  // Admitted (capacity 2), busy is full, refusing refuses: no endpoint with room, so it waits.
  const opening = openWs(url)
  await until(() => revision.proxy.parkedTunnelCount === 1, 2000, 'the websocket parked')
  t.equal(trackerOf(revision, refusing)?.state, TRACKER_FAILED, 'the refusing endpoint left rotation')
  t.equal(busy.handshakes, 0, 'nothing was sent to the full endpoint')
  busy.release()
  t.equal((await plain).status, 200)
  const ws = await opening
  t.equal(await echoOnce(ws, 'waited'), 'echo waited', 'connected once the plain request freed the slot')
  t.equal(busy.handshakes, 1)
  t.equal(revision.proxy.parkedTunnelCount, 0)
  ws.close()
  await settled(activator, revision, 'websocket closed')
})

t.test('a parked websocket whose client leaves is released at once: no clock advance, its slot back, nothing sent to the full endpoint', async (t) => {
  // The waiting tunnel reads its client socket (upgrade-tunnel.ts watchClient). The client sends a
  // frame before leaving: unread, it would sit in the socket's buffer and hide the FIN until the
  // revision's timeout, which never comes here (the clock is a ManualClock that does not move).
  const clock = new ManualClock()
  const { activator, ports, url } = await startActivator(t, [], { probe: probeOnce(), clock })
  const busy = await startEcho(t, '127.0.0.1')
  const refusing = await closedPort('127.0.0.2')
  const revision = await ready(activator, [busy.dest, refusing], 1)
  const client = createClient(t)
  const plain = send(client, url, { headers: route('ws') })
  await until(() => busy.held === 1, 2000, 'a plain request held by the first endpoint')
  const c = await rawConnect(ports.serving)
  t.teardown(() => { c.socket.destroy() })
  c.socket.write(upgradeRequest(ROUTE))
  await until(() => revision.proxy.parkedTunnelCount === 1, 2000, 'the websocket parked')
  t.equal(revision.throttler.inFlight, 2, 'the parked websocket holds an admission slot')
  const mask = [0x12, 0x34, 0x56, 0x78]
  c.socket.end(Buffer.from([0x81, 0x82, ...mask, 'h'.charCodeAt(0) ^ 0x12, 'i'.charCodeAt(0) ^ 0x34]))
  await until(() => revision.proxy.parkedTunnelCount === 0 && activator.tunnels.size === 0, 2000, 'left the parking')
  t.equal(c.text(), '', 'nothing answered to a client that left')
  t.equal(revision.throttler.inFlight, 1, 'its slot is back: only the plain request holds one')
  t.equal(revision.proxy.concurrency.inFlight, 1)
  busy.release()
  t.equal((await plain).status, 200)
  t.equal(busy.handshakes, 0, 'nothing was sent to the full endpoint')
  await settled(activator, revision, 'client gone while parked')
})

t.test('a parked websocket ends with the revision\'s timeout (504), or 404 when the revision goes; nothing leaks', async (t) => {
  // handshake: the holder below must outlive the revision's 1 s timeout (by default it would end
  // then, as Knative ends websockets, and free the endpoint the parked tunnel waits for).
  const { activator, ports, url } = await startActivator(t, ['--upgrade-timeouts', 'handshake'], { probe: probeOnce() })
  for (const [name, expect] of [['timeout', 504], ['removed', 404]] as const) {
    const busy = await startEcho(t, '127.0.0.1')
    const refusing = await closedPort('127.0.0.2')
    activator.registry.upsert(spec(name, [busy.dest, refusing], 1, { lbPolicy: 'first-available', timeoutSeconds: name === 'timeout' ? 1 : 30 }))
    await until(() => activator.registry.lookup('default', name)?.readyCount === 2, 2000, 'endpoints ready')
    const revision = activator.registry.lookup('default', name)
    if (revision === undefined) throw new Error('revision missing')
    // An open websocket holds the first endpoint (--upgrade-timeouts handshake: no timeout once open).
    const holder = await openWebSocket(url.replace('http:', 'ws:') + '/socket', route(name))
    const c = await rawConnect(ports.serving)
    t.teardown(() => { c.socket.destroy() })
    const start = performance.now()
    c.socket.write(upgradeRequest(`Knative-Serving-Namespace: default\r\nKnative-Serving-Revision: ${name}\r\n`))
    await until(() => revision.proxy.parkedTunnelCount === 1, 2000, 'parked')
    if (name === 'removed') activator.registry.remove('default', name)
    await c.closed
    t.equal(parseResponses(c.text())[0]?.status, expect, name)
    if (name === 'timeout') t.ok(performance.now() - start >= 900, 'after the revision\'s 1 s timeout')
    t.equal(revision.proxy.parkedTunnelCount, 0)
    holder.close()
    if (name === 'timeout') await settled(activator, revision, 'after the timeout')
    else await until(() => activator.tunnels.size === 0 && revision.throttler.inFlight === 0, 2000, 'removed: settled')
  }
})
