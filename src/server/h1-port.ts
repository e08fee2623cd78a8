import type { Server as HttpServer } from 'node:http'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import type { Logger } from '../shared/logger.ts'
import { H1Server, type H1Listener } from './h1-server.ts'

// A listening port served by H1Server alone: the sidecar's admin (8022) and metrics (9090) ports.
// They used node:http, which cost every sidecar ~15 MB of RSS and ~20-35 ms of start-up for two
// endpoints that answer a preStop hook and a scrape (issue 12). HTTP/1.1 only, no h2c sniffing;
// an Upgrade or CONNECT request goes to a node:http server created on the first one (it has no
// 'upgrade' listener, so it closes the connection, as the node:http port did).

export interface H1PortOptions {
  keepAliveTimeoutMs: number
  headersTimeoutMs: number
  maxHeadBytes: number
  logger: Logger
}

export class H1Port {
  readonly net: NetServer
  readonly h1: H1Server
  #fallback: HttpServer | null = null

  constructor (options: H1PortOptions, listener: H1Listener) {
    this.h1 = new H1Server({ ...options, fallback: () => this.#fallbackServer() }, listener)
    this.net = createNetServer({ noDelay: true }, (socket: Socket) => { this.h1.accept(socket, null) })
    this.net.on('close', () => { this.h1.close() })
  }

  /** Stops listening and closes every connection now. */
  close (): void {
    this.h1.closeAllConnections()
    this.#fallback?.closeAllConnections()
    this.net.close()
  }

  #fallbackServer (): HttpServer {
    if (this.#fallback === null) {
      this.#fallback = process.getBuiltinModule('node:http').createServer()
      this.#fallback.emit('listening')
    }
    return this.#fallback
  }
}
