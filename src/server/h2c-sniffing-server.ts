import type { IncomingMessage, Server as HttpServer, ServerOptions, ServerResponse } from 'node:http'
import type { Http2Server } from 'node:http2'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { H1Server } from './h1-server.ts'
import type { InboundRequest, InboundResponse } from './inbound.ts'
import type { Logger } from '../shared/logger.ts'
import { onNodeClientError } from './node-client-error.ts'
import { headRefusal, refuseRequest } from './node-head-check.ts'

// One port for HTTP/1.1 and HTTP/2 with prior knowledge (h2c), as Knative's queue-proxy serves
// (Go's h2c handler). Each new connection's first bytes decide: the HTTP/2 client preface
// "PRI * HTTP/2.0" goes to an http2 server, anything else to HTTP/1.1: Sluice's H1Server
// (`--http-server sluice`) or node:http (`node`). The peek costs one 'readable' per
// connection, nothing per request.
//
// node:http and node:http2 are loaded (process.getBuiltinModule, synchronous) and their servers
// created when first needed: the first HTTP/2 preface, the first Upgrade/CONNECT request that
// H1Server hands off, or a caller that reads `http` / `h2`. Loading them costs a sidecar ~25 MB of
// RSS and tens of ms of start-up (issue 12), and most pods never see either. `onHttpServer` /
// `onH2Server` let a caller attach its listeners when that happens instead of forcing it early.

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')


/**
 * The servers behind one listening socket. `http` / `h2` create node:http's / node:http2's server
 * on first read; `httpIfCreated` / `h2IfCreated` look without creating.
 */
export class DualServer {
  /** The listening socket server. */
  readonly net: NetServer
  /** Sluice's HTTP/1.1 server, or null with `node`. */
  readonly h1: H1Server | null
  readonly acceptsH2: boolean
  /**
   * Connections whose first bytes have not arrived. No server has them yet, so none would time
   * them out or close them at shutdown: a client that connects and says nothing would hold its
   * socket, and a graceful stop waiting for the listener to close, forever. TLS connections
   * still in their handshake wait here too (tls-listener.ts).
   */
  readonly silent = new Set<Socket>()
  readonly #options: DualServerOptions
  readonly #listener: InboundListener
  #http: HttpServer | null = null
  #h2: Http2Server | null = null

  constructor (options: DualServerOptions, listener: InboundListener) {
    this.#options = options
    this.#listener = listener
    this.onNodeRequest = this.onNodeRequest.bind(this)
    this.acceptsH2 = options.http2
    // noDelay: http.Server sets it on sockets it accepts itself; these arrive through our listener,
    // and with Nagle on, a response's head and body writes wait out the peer's delayed ACK (40 ms).
    this.net = createNetServer({ noDelay: true, keepAlive: true })
    this.h1 = options.impl === 'sluice'
      ? new H1Server({
        keepAliveTimeoutMs: options.keepAliveTimeoutMs,
        headersTimeoutMs: options.headersTimeoutMs,
        maxHeadBytes: options.maxHeadBytes,
        fallback: () => this.http,
        logger: options.logger,
      }, listener)
      : null
  }

  /** node:http's server: every HTTP/1.1 connection with `node`; Upgrade/CONNECT requests with `sluice`. */
  get http (): HttpServer {
    if (this.#http !== null) return this.#http
    const o = this.#options
    const httpOptions: ServerOptions = { requestTimeout: 0, keepAliveTimeout: o.keepAliveTimeoutMs, headersTimeout: o.headersTimeoutMs, maxHeaderSize: o.maxHeadBytes }
    const http = process.getBuiltinModule('node:http').createServer(httpOptions, this.onNodeRequest)
    this.#http = http
    // No count of fields besides the size limit, as Go and H1Server: node's default (2,000) refuses
    // a head of 1,000 fields as a "header overflow" however small it is.
    http.maxHeadersCount = 0
    http.on('clientError', onNodeClientError)
    // The server never listens itself; 'listening' starts its connection tracking
    // (closeIdleConnections, headersTimeout checks), which Node sets up on that event.
    if (this.net.listening) http.emit('listening')
    o.onHttpServer?.(http)
    return http
  }

  /** node:http's 'request' listener: refuses what H1Server refuses in the head and llhttp does not (node-head-check.ts). */
  onNodeRequest (req: IncomingMessage, res: ServerResponse): void {
    const refusal = headRefusal(req.rawHeaders)
    if (refusal !== null) { refuseRequest(req, res, refusal); return }
    this.#listener(req, res)
  }

  /** node:http2's server (HTTP/2 with prior knowledge, and h2 over TLS). */
  get h2 (): Http2Server {
    if (this.#h2 !== null) return this.#h2
    const h2 = process.getBuiltinModule('node:http2').createServer({}, this.#listener as unknown as (req: unknown, res: unknown) => void)
    this.#h2 = h2
    this.#options.onH2Server?.(h2)
    return h2
  }

  get httpIfCreated (): HttpServer | null { return this.#http }
  get h2IfCreated (): Http2Server | null { return this.#h2 }
}

/** --http-server: Sluice's own HTTP/1.1 server (H1Server) or node:http, the fallback. */
export type HttpServerImpl = 'sluice' | 'node'

export interface DualServerOptions {
  impl: HttpServerImpl
  /** Accept HTTP/2 with prior knowledge (h2c) too; false: every connection is HTTP/1.x. */
  http2: boolean
  keepAliveTimeoutMs: number
  headersTimeoutMs: number
  maxHeadBytes: number
  logger: Logger
  /** Called once node:http's server exists (attach 'upgrade' listeners; 'clientError' is onNodeClientError). */
  onHttpServer?: (http: HttpServer) => void
  /** Called once node:http2's server exists (attach 'session' listeners). */
  onH2Server?: (h2: Http2Server) => void
}

/**
 * Request head limit of the proxy ports: 64 KiB, as Envoy's default in front of Knative (60 KiB);
 * node's default (16 KiB) refuses large cookie or token headers that Go's queue-proxy (1 MiB) took.
 */
export const MAX_REQUEST_HEAD_BYTES = 64 * 1024

export type InboundListener = (req: InboundRequest, res: InboundResponse) => void

function onFirstBytes (this: Socket, servers: DualServer): void {
  const chunk = this.read() as Buffer | null
  if (chunk === null) { this.once('readable', () => { onFirstBytes.call(this, servers) }); return }
  servers.silent.delete(this)
  this.setTimeout(0, onSilentTimeout) // from here the chosen server times the connection
  const n = Math.min(chunk.length, PREFACE.length)
  if (servers.acceptsH2 && chunk.subarray(0, n).equals(PREFACE.subarray(0, n)) && n >= 3) {
    this.unshift(chunk)
    servers.h2.emit('connection', this)
  } else if (servers.h1 !== null) {
    servers.h1.accept(this, chunk)
    this.resume()
  } else {
    this.unshift(chunk)
    servers.http.emit('connection', this)
  }
}

/** A socket error before (or besides) the chosen server's handling: the socket is destroyed by it already. */
function ignoreSocketError (): void {}

/** Silent for the head timeout (Go's ReadHeaderTimeout, node's headersTimeout count from the connection too). */
function onSilentTimeout (this: Socket): void { this.destroy() }

/**
 * Drain: closes every connection with no request in progress (node:http's and H1Server's idle
 * keep-alive ones, and those that never sent a byte); busy ones close after their response.
 */
export function closeIdleConnections (servers: DualServer): void {
  servers.httpIfCreated?.closeIdleConnections()
  servers.h1?.closeIdleConnections()
  destroySilentConnections(servers)
}

/** Closes every HTTP/1.x connection of the port at once (end of a drain, close). */
export function closeAllConnections (servers: DualServer): void {
  servers.httpIfCreated?.closeAllConnections()
  servers.h1?.closeAllConnections()
  destroySilentConnections(servers)
}

/** Closes the connections that never sent a byte: they hold no request. */
export function destroySilentConnections (servers: DualServer): void {
  for (const socket of servers.silent) socket.destroy()
}

/**
 * Every protocol calls `listener`; HTTP/2 requests arrive through Node's compatibility API, whose
 * request/response objects mirror http's (`httpVersionMajor === 2`).
 */
export function createDualServer (options: DualServerOptions, listener: InboundListener): DualServer {
  const servers = new DualServer(options, listener)
  // With `node` every HTTP/1.1 connection goes to node:http: create it now.
  if (servers.h1 === null) void servers.http
  servers.net.on('listening', () => { servers.httpIfCreated?.emit('listening') })
  servers.net.on('close', () => {
    servers.httpIfCreated?.emit('close')
    if (servers.h1 !== null) servers.h1.close()
  })
  servers.net.on('connection', (socket: Socket) => {
    socket.setNoDelay(true)
    servers.silent.add(socket)
    socket.setTimeout(options.headersTimeoutMs, onSilentTimeout)
    socket.once('close', () => { servers.silent.delete(socket) })
    // Until its first bytes choose a server, nothing else listens for the socket's errors: a client
    // that resets before speaking (ECONNRESET on this read) must cost its connection, not the process.
    // Left on afterwards: the chosen server adds its own listener beside it.
    socket.on('error', ignoreSocketError)
    socket.once('readable', () => { onFirstBytes.call(socket, servers) })
  })
  return servers
}
