import { createServer, type Socket } from 'node:net'

// A revision's pod on raw sockets, for activator benches and compat runs: 200 `ok` to every request,
// `queue` to the activator's readiness probe (`K-Network-Probe: queue`, what a sidecar answers), and
// with `holdMs` a `GET /hold` answered that much later (in-flight requests the activator counts).

export interface RawPod {
  readonly port: number
  close (): void
}

export async function startRawPod (host: string, opts: { holdMs?: number } = {}): Promise<RawPod> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => { sockets.delete(socket) })
    socket.on('error', () => {})
    let head = ''
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1')
      for (let end = head.indexOf('\r\n\r\n'); end >= 0; end = head.indexOf('\r\n\r\n')) {
        const request = head.slice(0, end + 4)
        head = head.slice(end + 4)
        const body = /^k-network-probe: queue/im.test(request) ? 'queue' : 'ok'
        const answer = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`
        if (opts.holdMs !== undefined && request.startsWith('GET /hold ')) setTimeout(() => { if (!socket.destroyed) socket.write(answer) }, opts.holdMs)
        else socket.write(answer)
      }
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, host, resolve) })
  const addr = server.address()
  return { port: typeof addr === 'object' && addr !== null ? addr.port : 0, close: () => { for (const s of sockets) s.destroy(); server.close() } }
}
