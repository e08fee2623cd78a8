import t from 'tap'
import { closeAllConnections, createDualServer, destroySilentConnections, type DualServer } from '../../src/server/h2c-sniffing-server.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { parseResponses, rawConnect } from '../helpers/raw-client.ts'
import { sleep, until } from '../helpers/sidecar-fixture.ts'

// Until its first bytes arrive a connection belongs to no server (the protocol sniff): these tests
// check it is timed out and closed all the same.

async function listen (t: { teardown (fn: () => unknown): void }, impl: 'sluice' | 'node'): Promise<{ servers: DualServer, port: number }> {
  const servers = createDualServer({ impl, http2: true, keepAliveTimeoutMs: 5_000, headersTimeoutMs: 200, maxHeadBytes: 64 * 1024, logger: silentLogger() },
    (_req, res) => { res.end(Buffer.from('ok')) })
  await new Promise<void>((resolve) => { servers.net.listen(0, '127.0.0.1', resolve) })
  const address = servers.net.address()
  t.teardown(() => {
    closeAllConnections(servers)
    servers.net.close()
  })
  return { servers, port: address !== null && typeof address === 'object' ? address.port : 0 }
}

for (const impl of ['sluice', 'node'] as const) {
  t.test(`${impl}: a connection that never sends a byte is closed after the head timeout; a served one is not`, async (t) => {
    const { servers, port } = await listen(t, impl)
    const silent = await rawConnect(port)
    const served = await rawConnect(port)
    t.teardown(() => { silent.socket.destroy(); served.socket.destroy() })
    served.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await until(() => parseResponses(served.text()).length === 1, 2000, 'served')
    const start = performance.now()
    await until(() => silent.isClosed, 2000, 'silent connection closed')
    t.ok(performance.now() - start < 1000, 'closed after about the head timeout')
    await sleep(300)
    t.notOk(served.isClosed, 'a connection that spoke is timed by its server (keep-alive), not by the sniff')
    await until(() => servers.silent.size === 0, 1000, 'forgotten')
  })
}

t.test('destroySilentConnections closes only the connections that never spoke', async (t) => {
  const { servers, port } = await listen(t, 'sluice')
  const silent = await rawConnect(port)
  const served = await rawConnect(port)
  t.teardown(() => { silent.socket.destroy(); served.socket.destroy() })
  served.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await until(() => parseResponses(served.text()).length === 1 && servers.silent.size === 1, 2000, 'one silent, one served')
  destroySilentConnections(servers)
  await until(() => silent.isClosed, 1000, 'silent connection closed')
  await sleep(50)
  t.notOk(served.isClosed)
  t.equal(servers.silent.size, 0)
})

for (const impl of ['sluice', 'node'] as const) {
  t.test(`${impl}: a client that resets its connection before its first byte costs that connection only`, async (t) => {
    // Before its first bytes a connection belongs to no server, so nothing else listens for its
    // errors: a reset there (ECONNRESET on the sniff's read) was an unhandled 'error' that ended the
    // process (seen when 2,000 clients gave up at once on the node:http stack).
    const { servers, port } = await listen(t, impl)
    const { connect } = await import('node:net')
    for (let i = 0; i < 20; i++) {
      const s = connect(port, '127.0.0.1')
      s.on('error', () => {})
      await new Promise<void>((resolve) => { s.once('connect', () => { resolve() }) })
      s.resetAndDestroy()
    }
    await until(() => servers.silent.size === 0, 2000, 'the reset connections are forgotten')
    const served = await rawConnect(port)
    t.teardown(() => { served.socket.destroy() })
    served.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await until(() => parseResponses(served.text()).length === 1, 2000, 'served after the resets')
    t.equal(parseResponses(served.text())[0]?.status, 200)
  })
}
