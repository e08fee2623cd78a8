// Fixtures for the H1Upstream tests: a handler that records what the client reports, and a raw
// TCP "evil server" that answers with whatever bytes a test chooses.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import type { Dispatcher } from 'undici'

export interface Teardown { teardown (fn: () => unknown): void }

/** Records one request's callbacks; `done` settles on onResponseEnd / onResponseError. */
export class Collector implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | null = null
  status = 0
  headers: Record<string, string | string[] | undefined> | null = null
  chunks: Buffer[] = []
  trailers: Record<string, string | string[] | undefined> | null = null
  error: (Error & { code?: string }) | null = null
  /** Callbacks after the end (must stay 0). */
  lateCalls = 0
  ended = false
  readonly done: Promise<void>
  #resolve: () => void = () => {}
  /** Optional hooks for tests that steer the request from inside a callback. */
  onStart: ((c: Dispatcher.DispatchController) => void) | null = null
  onChunk: ((c: Dispatcher.DispatchController, chunk: Buffer) => void) | null = null

  constructor () {
    this.done = new Promise((resolve) => { this.#resolve = resolve })
  }

  get body (): string { return Buffer.concat(this.chunks).toString() }
  get bodyBytes (): number { let n = 0; for (const c of this.chunks) n += c.length; return n }

  onRequestStart (controller: Dispatcher.DispatchController): void {
    this.controller = controller
  }

  onResponseStart (controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.ended) { this.lateCalls++; return }
    this.status = statusCode
    this.headers = headers
    if (this.onStart !== null) this.onStart(controller)
  }

  onResponseData (controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.ended) { this.lateCalls++; return }
    this.chunks.push(Buffer.from(chunk))
    if (this.onChunk !== null) this.onChunk(controller, chunk)
  }

  onResponseEnd (_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.ended) { this.lateCalls++; return }
    this.ended = true
    this.trailers = trailers
    this.#resolve()
  }

  onResponseError (_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.ended) { this.lateCalls++; return }
    this.ended = true
    this.error = err
    this.#resolve()
  }
}

export function get (path = '/', headers: string[] = []): Dispatcher.DispatchOptions {
  return { method: 'GET', path, headers, body: null }
}

export async function listen (t: Teardown, server: Server | NetServer): Promise<number> {
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => {
    if ('closeAllConnections' in server) server.closeAllConnections()
    server.close()
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return (address satisfies AddressInfo).port
}

export interface HttpApp {
  server: Server
  port: number
  sockets: Set<Socket>
  /** Distinct sockets seen. */
  connections: number
}

export async function startHttpApp (t: Teardown, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<HttpApp> {
  const server = createHttpServer(handler)
  const app: HttpApp = { server, port: 0, sockets: new Set(), connections: 0 }
  server.on('connection', (socket: Socket) => {
    app.connections++
    app.sockets.add(socket)
    socket.on('close', () => { app.sockets.delete(socket) })
  })
  app.port = await listen(t, server)
  return app
}

/** One accepted connection of the raw server. */
export interface RawConn {
  socket: Socket
  /** Bytes received so far. */
  received: Buffer
  /** Complete request heads seen on this connection. */
  requests: number
  closed: boolean
}

export interface RawServer {
  server: NetServer
  port: number
  conns: RawConn[]
}

/**
 * A TCP server that calls `onRequest(conn, head, n)` each time a request head (through its
 * blank line) is complete on a connection; bodies are not parsed (tests that send one use
 * `received`). `n` counts requests on that connection from 1.
 */
export async function startRawServer (t: Teardown, onRequest: (conn: RawConn, head: string, n: number) => void): Promise<RawServer> {
  const raw: RawServer = { server: createNetServer(), port: 0, conns: [] }
  raw.server.on('connection', (socket: Socket) => {
    const conn: RawConn = { socket, received: Buffer.alloc(0), requests: 0, closed: false }
    raw.conns.push(conn)
    let scanned = 0
    socket.on('data', (chunk: Buffer) => {
      conn.received = Buffer.concat([conn.received, chunk])
      for (;;) {
        const end = conn.received.indexOf('\r\n\r\n', scanned)
        if (end < 0) break
        const head = conn.received.subarray(scanned, end + 4).toString('latin1')
        scanned = end + 4
        conn.requests++
        onRequest(conn, head, conn.requests)
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => { conn.closed = true })
  })
  raw.port = await listen(t, raw.server)
  t.teardown(() => { for (const c of raw.conns) c.socket.destroy() })
  return raw
}

/** Resolves when `cond` holds (polled every 5 ms), rejects after `ms`. */
export async function until (cond: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const start = performance.now()
  while (!cond()) {
    if (performance.now() - start > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
