// LazyUpgradeGate: a mode's upgrade code loads at the first Upgrade request, once; requests that
// arrive while it loads wait (sockets paused) and are handed over in arrival order; a failed load
// closes them with one error line; close() while loading closes what finishes loading.
import { createServer, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import t from 'tap'
import { LazyUpgradeGate, type LazyUpgrades } from '../../src/proxy/lazy-upgrade-gate.ts'
import { createRootLogger } from '../../src/shared/logger.ts'
import { client } from '../helpers/upgrade-fixtures.ts'
import { listen, type Teardown } from './h1-fixtures.ts'

/** What the gate "loads": answers 101 with the request's path, and records dispatch order. */
class Loaded {
  readonly dispatched: string[] = []
  closed = 0
}

class TestUpgrades implements LazyUpgrades<Loaded> {
  readonly what = 'the test path'
  loads = 0
  readonly #result: Promise<Loaded>
  resolve: (l: Loaded) => void = () => {}
  reject: (err: Error) => void = () => {}

  constructor () {
    this.#result = new Promise<Loaded>((resolve, reject) => { this.resolve = resolve; this.reject = reject })
  }

  load (): Promise<Loaded> { this.loads++; return this.#result }

  dispatch (loaded: Loaded, req: IncomingMessage, socket: Duplex): void {
    loaded.dispatched.push(req.url ?? '')
    socket.resume()
    socket.end(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Path: ${req.url ?? ''}\r\n\r\n`)
  }

  close (loaded: Loaded): void { loaded.closed++ }
}

const handshake = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`

async function start (t: Teardown): Promise<{ gate: LazyUpgradeGate<Loaded>, upgrades: TestUpgrades, port: number, errors: string[], sockets: Duplex[] }> {
  const upgrades = new TestUpgrades()
  const errors: string[] = []
  const logger = createRootLogger('info', {}, { write: (line: string) => { const o = JSON.parse(line) as { level: string, msg: string }; if (o.level === 'error') errors.push(o.msg) } })
  const gate = new LazyUpgradeGate(upgrades, logger)
  const server = createServer()
  const sockets: Duplex[] = []
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { sockets.push(socket); gate.handle(req, socket, head) })
  return { gate, upgrades, port: await listen(t, server), errors, sockets }
}

async function until (cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise<void>((resolve) => { setImmediate(resolve) })
}

t.test('loads once, at the first upgrade; waiting requests go on in arrival order, then later ones at once', async (t) => {
  const { gate, upgrades, port } = await start(t)
  t.equal(upgrades.loads, 0, 'nothing loaded before an Upgrade request')
  const a = client(port, handshake('/a'))
  await until(() => gate.waiting === 1)
  const b = client(port, handshake('/b'))
  await until(() => gate.waiting === 2)
  t.equal(upgrades.loads, 1, 'one load for both')
  t.equal(gate.loaded, null)
  const loaded = new Loaded()
  upgrades.resolve(loaded)
  await a.until('\r\n\r\n')
  await b.until('\r\n\r\n')
  t.same(loaded.dispatched, ['/a', '/b'], 'in arrival order')
  t.equal(gate.loaded, loaded)
  t.equal(gate.waiting, 0)
  const c = client(port, handshake('/c'))
  await c.until('X-Path: /c')
  t.same(loaded.dispatched, ['/a', '/b', '/c'], 'once loaded, straight through')
  t.equal(upgrades.loads, 1)
  gate.close()
  t.equal(loaded.closed, 1, 'close() closes what was loaded')
})

t.test('a waiting request whose socket was destroyed is not handed over', async (t) => {
  const { gate, upgrades, port, sockets } = await start(t)
  client(port, handshake('/gone'))
  await until(() => gate.waiting === 1)
  const stays = client(port, handshake('/stays'))
  await until(() => gate.waiting === 2)
  sockets[0]?.destroy()
  const loaded = new Loaded()
  upgrades.resolve(loaded)
  await stays.until('X-Path: /stays')
  t.same(loaded.dispatched, ['/stays'])
  gate.close()
})

t.test('a load that fails: the waiting sockets are closed, one error line, and the next request tries again', async (t) => {
  const { gate, upgrades, port, errors } = await start(t)
  const a = client(port, handshake('/a'))
  await until(() => gate.waiting === 1)
  upgrades.reject(new Error('no module'))
  await a.closed
  t.equal(a.received(), '', 'closed without an answer')
  t.same(errors, ['cannot load the test path'])
  t.equal(gate.waiting, 0)
  t.equal(gate.loaded, null)
  const b = client(port, handshake('/b'))
  await until(() => upgrades.loads === 2)
  t.pass('a later request starts a new load')
  b.socket.destroy()
  gate.close()
})

t.test('close() while loading: waiting sockets closed, what finishes loading is closed, not used', async (t) => {
  const { gate, upgrades, port } = await start(t)
  const a = client(port, handshake('/a'))
  await until(() => gate.waiting === 1)
  gate.close()
  await a.closed
  const loaded = new Loaded()
  upgrades.resolve(loaded)
  await until(() => loaded.closed === 1)
  t.equal(gate.loaded, null, 'never installed')
  t.same(loaded.dispatched, [])
  const b = client(port, handshake('/b'))
  await b.closed
  t.equal(b.received(), '', 'after close, upgrades are refused')
})
