import { Agent, type ClientRequestArgs } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

// An http.Agent that hands out one socket we connected ourselves, once. It lets an upgrade tunnel
// connect to an endpoint first (and try another one when the connect fails) and only then give the
// connection to http-proxy-3 for the handshake: http-proxy-3 passes its `agent` option to
// http.request (common.setupOutgoing), and the Agent asks `createConnection` for the socket
// synchronously inside that call. Not keep-alive: after a non-101 answer the Agent destroys the
// socket; after a 101 the socket leaves the Agent (http-proxy-3 pipes it).

export class ConnectedSocketAgent extends Agent {
  #socket: Socket | null

  constructor (socket: Socket) {
    super({ keepAlive: false })
    this.#socket = socket
  }

  /** Whether http.request took the socket (false: http-proxy-3 refused the request before sending it). */
  get isUsed (): boolean { return this.#socket === null }

  override createConnection (_options: ClientRequestArgs): Duplex | null {
    const socket = this.#socket
    this.#socket = null
    return socket
  }
}
