// Upgrade (websocket) fixtures over real sockets: an app that answers 101 and echoes, and a raw
// client that sends a handshake and collects what comes back.
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { listen, type Teardown } from '../proxy/h1-fixtures.ts'

export const HANDSHAKE = 'GET /ws HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'

/** An app that answers every upgrade with 101 and echoes what follows (or holds it, unanswered). */
export async function echoApp (t: Teardown, answer = true, onUpgrade: ((req: IncomingMessage) => void) | null = null): Promise<{ port: number, upgrades: number }> {
  const server: Server = createServer((_req, res) => { res.end('not an upgrade') })
  const app = { port: 0, upgrades: 0 }
  const sockets = new Set<Duplex>()
  server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
    app.upgrades++
    if (onUpgrade !== null) onUpgrade(_req)
    sockets.add(socket)
    socket.on('error', () => {})
    if (!answer) return
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n')
    socket.pipe(socket)
  })
  app.port = await listen(t, server)
  t.teardown(() => { for (const s of sockets) s.destroy() })
  return app
}

/** A raw client: sends the handshake, collects what comes back. */
export function client (port: number, handshake = HANDSHAKE): { socket: Socket, received: () => string, until: (s: string) => Promise<void>, closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1')
  let data = ''
  let notify: () => void = () => {}
  socket.on('data', (c: Buffer) => { data += c.toString('latin1'); notify() })
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => { socket.on('close', () => { notify(); resolve() }) })
  socket.write(handshake)
  return {
    socket,
    received: () => data,
    closed,
    async until (s: string) {
      while (!data.includes(s)) {
        if (socket.destroyed) throw new Error(`closed before ${JSON.stringify(s)}; got ${JSON.stringify(data)}`)
        await new Promise<void>((resolve) => { notify = resolve })
      }
    },
  }
}

