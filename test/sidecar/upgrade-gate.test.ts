// UpgradeGate: the sidecar loads its upgrade path (http-proxy-3, the tunnel code) with the first
// Upgrade request, not at start (issue 12). Requests that arrive while it loads wait and are served.
import { createServer, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import t from 'tap'
import { DeadlineSweeper } from '../../src/proxy/deadline-sweeper.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { UpgradeGate } from '../../src/sidecar/upgrade-gate.ts'
import { listen, type Teardown } from '../proxy/h1-fixtures.ts'
import { client, echoApp } from '../helpers/upgrade-fixtures.ts'

async function startGate (t: Teardown, appPort: number): Promise<{ gate: UpgradeGate, port: number }> {
  const clock = new ManualClock(0)
  const gate = new UpgradeGate({
    target: `http://127.0.0.1:${appPort}`,
    breaker: null,
    recorder: { reqIn () {}, reqOut () {} },
    now: () => clock.nowMs(),
    drain: { isDraining: false, touch () {} },
    sweeper: new DeadlineSweeper(() => clock.nowMs(), 50, new ManualTimers(clock)),
    timeouts: { totalMs: 60_000, responseStartMs: 0, idleMs: 0, queueMs: 0, timeoutBody: Buffer.from('timeout\n') },
    upgradeTimeouts: 'knative',
    logger: silentLogger(),
  }, silentLogger())
  t.teardown(() => { gate.close() })
  const server = createServer()
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { gate.handle(req, socket, head) })
  return { gate, port: await listen(t, server) }
}

t.test('nothing loaded until the first upgrade; the requests that arrive while it loads are served', async (t) => {
  const app = await echoApp(t)
  const { gate, port } = await startGate(t, app.port)
  t.equal(gate.isLoaded, false)
  t.equal(gate.count, 0)
  const first = client(port)
  const second = client(port)
  await first.until('\r\n\r\n')
  await second.until('\r\n\r\n')
  t.equal(gate.isLoaded, true)
  t.match(first.received(), /^HTTP\/1\.1 101 /)
  t.match(second.received(), /^HTTP\/1\.1 101 /)
  t.equal(gate.open.size, 2)
  const third = client(port)
  await third.until('\r\n\r\n')
  t.equal(gate.count, 3, 'later ones go straight to the loaded path')
  gate.destroyAll()
  await Promise.all([first.closed, second.closed, third.closed])
})

t.test('after close, upgrades are refused (their sockets closed)', async (t) => {
  const app = await echoApp(t)
  const { gate, port } = await startGate(t, app.port)
  gate.close()
  const c = client(port)
  await c.closed
  t.equal(c.received(), '')
  t.equal(gate.isLoaded, false, 'closing before the first upgrade never loads the path')
  t.equal(app.upgrades, 0)
})
