// WsProxyGate: the activator loads http-proxy-3 with the first Upgrade request, not at start
// (issue 12); requests that arrive while it loads wait, then go to the upgrade handler in order.
import { createServer, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ProxyServer } from 'http-proxy-3'
import t from 'tap'
import { WsProxyGate } from '../../src/activator/ws-proxy-gate.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { listen, type Teardown } from '../proxy/h1-fixtures.ts'
import { client, echoApp } from '../helpers/upgrade-fixtures.ts'

async function start (t: Teardown, appPort: number): Promise<{ gate: WsProxyGate, port: number, configured: ProxyServer[], order: string[] }> {
  const configured: ProxyServer[] = []
  const order: string[] = []
  const gate: WsProxyGate = new WsProxyGate((req, socket, head) => {
    order.push(req.url ?? '')
    gate.proxy.ws(req, socket, head, { target: `http://127.0.0.1:${appPort}` })
  }, (proxy) => { configured.push(proxy); proxy.on('error', () => {}) }, silentLogger())
  t.teardown(() => { gate.close() })
  const server = createServer()
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { gate.handle(req, socket, head) })
  return { gate, port: await listen(t, server), configured, order }
}

t.test('nothing loaded before the first upgrade; the proxy is configured once, waiting requests served in order', async (t) => {
  const app = await echoApp(t)
  const { gate, port, configured, order } = await start(t, app.port)
  t.equal(gate.isLoaded, false)
  t.throws(() => gate.proxy, /used before it was loaded/)
  const a = client(port, 'GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
  const b = client(port, 'GET /b HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
  await a.until('\r\n\r\n')
  await b.until('\r\n\r\n')
  t.equal(gate.isLoaded, true)
  t.equal(configured.length, 1)
  t.equal(configured[0], gate.proxy)
  t.same(order.sort(), ['/a', '/b'])
  const c = client(port)
  await c.until('\r\n\r\n')
  t.equal(configured.length, 1, 'configured once')
  for (const s of [a, b, c]) s.socket.destroy()
})

t.test('after close, upgrades are refused and nothing is loaded', async (t) => {
  const app = await echoApp(t)
  const { gate, port } = await start(t, app.port)
  gate.close()
  const c = client(port)
  await c.closed
  t.equal(c.received(), '')
  t.equal(gate.isLoaded, false)
})
