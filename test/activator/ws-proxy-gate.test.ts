import { IncomingMessage } from 'node:http'
import { Socket } from 'node:net'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { WsProxyGate } from '../../src/activator/ws-proxy-gate.ts'
import { silentLogger } from '../../src/shared/logger.ts'

// The activator's stand-in for http-proxy-3 until the first Upgrade request: requests that arrive
// while the package loads wait (paused) and go on in arrival order; the proxy is configured once.
// Its own file (a fresh process), so the first handle() really imports the package.

function upgradeRequest (): { req: IncomingMessage, socket: PassThrough } {
  return { req: new IncomingMessage(new Socket()), socket: new PassThrough() }
}

t.test('requests that arrive while http-proxy-3 loads wait, paused, and go on in arrival order', async (t) => {
  const handed: PassThrough[] = []
  let configured = 0
  const gate = new WsProxyGate((_req, socket) => { if (socket instanceof PassThrough) handed.push(socket) }, () => { configured++ }, silentLogger())
  t.teardown(() => { gate.close() })
  t.throws(() => gate.proxy, /before it was loaded/, 'no proxy before the first Upgrade request')
  const waiting = [upgradeRequest(), upgradeRequest(), upgradeRequest()]
  for (const w of waiting) gate.handle(w.req, w.socket, Buffer.alloc(0))
  t.equal(gate.isLoaded, false, 'the import is under way')
  t.ok(waiting.every((w) => w.socket.isPaused()), 'the waiting sockets are paused')
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => { reject(new Error('the waiting requests were not handed on')) }, 5000)
    const poll = (): void => { if (handed.length === waiting.length) { clearTimeout(deadline); resolve() } else setImmediate(poll) }
    poll()
  })
  t.same(handed, waiting.map((w) => w.socket), 'all handed on, in arrival order')
  t.equal(gate.isLoaded, true)
  t.equal(configured, 1, 'the proxy configured once')
  t.equal(typeof gate.proxy.ws, 'function', 'the loaded proxy')
  const later = upgradeRequest()
  gate.handle(later.req, later.socket, Buffer.alloc(0))
  t.equal(handed.at(-1), later.socket, 'a later request goes on at once')
})

t.test('after close, waiting and new requests are refused (their sockets destroyed)', async (t) => {
  const gate = new WsProxyGate(() => { t.fail('nothing is handed on after close') }, () => {}, silentLogger())
  const w = upgradeRequest()
  gate.handle(w.req, w.socket, Buffer.alloc(0))
  gate.close()
  t.equal(w.socket.destroyed, true, 'the waiting request')
  const late = upgradeRequest()
  gate.handle(late.req, late.socket, Buffer.alloc(0))
  t.equal(late.socket.destroyed, true, 'a request after close')
})
