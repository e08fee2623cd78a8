// Reusing a keep-alive connection to the app only once it can be trusted (issue 13, defect 4): an
// app that closes, or writes more, right after a complete response must not make the next request
// on that connection fail or read those bytes. The next request is the one queued behind (CC=1),
// which is handed the connection in the same turn of the loop unless the pool waits for it to settle.
import { createServer, type Socket } from 'node:net'
import t from 'tap'
import { send, startSidecar } from '../helpers/sidecar-fixture.ts'
import { ALL_STACKS, stackTests } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', ALL_STACKS)

/** A raw keep-alive app: answers each complete request (head + Content-Length body) via `answer`. */
async function rawApp (t: { teardown (fn: () => unknown): void }, answer: (socket: Socket, n: number) => void): Promise<{ port: number, connections: () => number }> {
  let connections = 0
  let n = 0
  const server = createServer((socket) => {
    connections++
    let buf = ''
    socket.on('data', (c: Buffer) => {
      buf += c.toString('latin1')
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const m = /content-length: (\d+)/i.exec(buf.slice(0, end))
        const need = end + 4 + (m !== null ? Number(m[1]) : 0)
        if (buf.length < need) return
        buf = buf.slice(need)
        answer(socket, ++n)
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { server.close() })
  return { port: (server.address() as { port: number }).port, connections: () => connections }
}

const ok = (body: string): string => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`

test('an app that closes right after each keep-alive response: queued POSTs at CC=1 all get their answer', async (t, stack) => {
  const app = await rawApp(t, (socket, n) => { setTimeout(() => { socket.end(ok(`r${n}`)) }, 2) })
  const { url } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, stack.argv)
  const replies = await Promise.all(Array.from({ length: 10 }, () => send(`${url}/`, { method: 'POST', body: 'payload' })))
  t.same(replies.map((r) => r.status), Array(10).fill(200), 'no 502 from a closed connection (a sent body cannot be replayed)')
  t.same(new Set(replies.map((r) => r.body)).size, 10, 'each its own answer')
  t.ok(app.connections() >= 10, 'a new connection for each (and the TCP readiness probe)')
})

test('an app that writes more right after a complete response: the next request never reads those bytes', async (t, stack) => {
  const app = await rawApp(t, (socket, n) => {
    setTimeout(() => {
      socket.write(ok(`r${n}`))
      setImmediate(() => { if (!socket.destroyed) socket.write(ok('EVIL')) }) // a separate write, after the response
    }, 2)
  })
  const { url } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, stack.argv)
  const replies = await Promise.all(Array.from({ length: 10 }, () => send(`${url}/`, { method: 'POST', body: 'payload' })))
  t.same(replies.map((r) => r.status), Array(10).fill(200))
  t.notOk(replies.some((r) => r.body === 'EVIL'), 'no client got the late bytes')
})
