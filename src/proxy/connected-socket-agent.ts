import type { Agent, ClientRequestArgs } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'

// An http.Agent that hands out one socket we connected ourselves, once. It lets an upgrade tunnel
// connect to an endpoint first (and try another one when the connect fails) and only then give the
// connection to http-proxy-3 for the handshake: http-proxy-3 passes its `agent` option to
// http.request (common.setupOutgoing), and the Agent asks `createConnection` for the socket
// synchronously inside that call. Not keep-alive: after a non-101 answer the Agent destroys the
// socket; after a 101 the socket leaves the Agent (http-proxy-3 pipes it).
//
// The class is defined on first use, on node:http's Agent from process.getBuiltinModule: a static
// `import { Agent } from 'node:http'` goes through the built-in's ESM facade, which on Node 24 also
// loads node:http2, node:tls, node:crypto and fs/promises (~60 internal modules) in every process
// that imports the tunnel code, upgrades or not (issue 12).

/** What the tunnel uses of the agent. */
export interface ConnectedSocketAgent extends Agent {
  /** Whether http.request took the socket (false: http-proxy-3 refused the request before sending it). */
  readonly isUsed: boolean
}

function defineAgentClass (Base: typeof Agent): new (socket: Socket) => ConnectedSocketAgent {
  return class extends Base implements ConnectedSocketAgent {
    #socket: Socket | null

    constructor (socket: Socket) {
      super({ keepAlive: false })
      this.#socket = socket
    }

    get isUsed (): boolean { return this.#socket === null }

    override createConnection (_options: ClientRequestArgs): Duplex | null {
      const socket = this.#socket
      this.#socket = null
      return socket
    }
  }
}

let AgentClass: (new (socket: Socket) => ConnectedSocketAgent) | null = null

/** An agent that gives `socket` to the first request made through it. */
export function connectedSocketAgent (socket: Socket): ConnectedSocketAgent {
  AgentClass ??= defineAgentClass(process.getBuiltinModule('node:http').Agent)
  return new AgentClass(socket)
}
