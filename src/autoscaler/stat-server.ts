// The autoscaler's websocket stat server (Knative's pkg/autoscaler/statserver): activators push
// per-revision Stats here. One port, any path, both protocols:
// - binary frames: Knative's WireStatMessages protobuf (the `knative` protocol);
// - text frames: the versioned JSON schema of docs/stats-protocol.md (the `json` protocol).
// Knative drops text frames; accepting them here costs nothing and makes the server pluggable.
// A frame that does not decode is skipped and counted; entries without a stat are skipped.
// Plain HTTP requests are kubelet probes (200) or mistakes (426 Upgrade Required).
// On close, clients get code 1012 ("service restart"), as Knative sends, so they reconnect.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import { realClock, type Clock } from '../shared/clock.ts'
import { SluiceError } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import { isKubeletProbe } from '../shared/probe-headers.ts'
import { decodeStatMessagesJson, MAX_STATS_JSON_BYTES } from '../stats/stat-json-wire.ts'
import { decodeWireStatMessages } from '../stats/stat-proto.ts'
import type { Stat, WireStatMessage } from '../stats/stat.ts'

/** Knative's autoscaler stat server port. */
export const DEFAULT_STAT_SERVER_PORT = 8080
/** Close code sent to clients on shutdown (Knative: websocket.CloseServiceRestart). */
export const CLOSE_SERVICE_RESTART = 1012

/** Where received stats go (the multiscaler). Declared here, by the code that calls it. */
export interface StatConsumer {
  /** One revision's stat; `timestamp` is filled with the receive time (unix s) when it was 0. */
  onStat (namespace: string, name: string, stat: Stat): void
}

export interface StatServerOptions {
  readonly port?: number
  readonly host?: string
  readonly consumer: StatConsumer
  readonly logger?: Logger | null
  readonly clock?: Clock
  /** Largest frame accepted (bytes); larger ones close the connection (1009). */
  readonly maxPayloadBytes?: number
}

export interface StatServerCounters {
  connections: number
  frames: number
  messages: number
  /** Frames that did not decode (skipped). */
  badFrames: number
  /** Entries without a stat or without a revision name (skipped). */
  skippedMessages: number
}

function decodeFrame (data: RawData, isBinary: boolean): WireStatMessage[] {
  if (isBinary) {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
    return decodeWireStatMessages(buf)
  }
  return decodeStatMessagesJson(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString())
}

export class StatServer {
  readonly counters: StatServerCounters
  readonly #consumer: StatConsumer
  readonly #logger: Logger | null
  readonly #clock: Clock
  readonly #host: string
  readonly #requestedPort: number
  readonly #http: Server
  readonly #wss: WebSocketServer
  #port: number

  constructor (options: StatServerOptions) {
    this.counters = { connections: 0, frames: 0, messages: 0, badFrames: 0, skippedMessages: 0 }
    this.#consumer = options.consumer
    this.#logger = options.logger ?? null
    this.#clock = options.clock ?? realClock
    this.#host = options.host ?? '127.0.0.1'
    this.#requestedPort = options.port ?? DEFAULT_STAT_SERVER_PORT
    this.#port = 0
    this.#wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: options.maxPayloadBytes ?? MAX_STATS_JSON_BYTES })
    this.#wss.on('connection', (ws: WebSocket, req: IncomingMessage) => { this.#onConnection(ws, req) })
    this.#http = createServer((req, res) => { this.#onRequest(req, res) })
    this.#http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.#wss.handleUpgrade(req, socket, head, (ws) => { this.#wss.emit('connection', ws, req) })
    })
  }

  /** The bound port (after listen()). */
  get port (): number { return this.#port }

  /** Open websocket clients. */
  get clients (): number { return this.#wss.clients.size }

  listen (): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject)
      this.#http.listen(this.#requestedPort, this.#host, () => {
        this.#http.off('error', reject)
        this.#port = (this.#http.address() as AddressInfo).port
        this.#logger?.info({ port: this.#port }, 'stat server listening')
        resolve(this.#port)
      })
    })
  }

  /** Closes clients with 1012 and stops listening. */
  close (): Promise<void> {
    for (const ws of this.#wss.clients) ws.close(CLOSE_SERVICE_RESTART, 'autoscaler restarting')
    // wss.close() waits for clients to finish the closing handshake; the timer ends laggards.
    return new Promise((resolve) => {
      const force = setTimeout(() => { for (const ws of this.#wss.clients) ws.terminate() }, 1_000)
      force.unref()
      this.#wss.close(() => {
        this.#http.close(() => { clearTimeout(force); resolve() })
        this.#http.closeAllConnections()
      })
    })
  }

  #onRequest (req: IncomingMessage, res: ServerResponse): void {
    if (isKubeletProbe(req.headers)) {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
      res.end('ok\n')
      return
    }
    res.writeHead(426, { 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket', connection: 'Upgrade' })
    res.end('stat server: connect with a websocket (docs/stats-protocol.md)\n')
  }

  #onConnection (ws: WebSocket, req: IncomingMessage): void {
    this.counters.connections++
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`
    this.#logger?.info({ remote }, 'stats client connected')
    let warned = false
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.counters.frames++
      let messages: WireStatMessage[]
      try {
        messages = decodeFrame(data, isBinary)
      } catch (err) {
        this.counters.badFrames++
        // One warning per connection: a client speaking the wrong protocol would flood the log.
        if (!warned) {
          warned = true
          this.#logger?.warn({ remote, err, binary: isBinary, code: err instanceof SluiceError ? err.code : undefined }, 'skipping undecodable stats frame')
        }
        return
      }
      this.#deliver(messages)
    })
    ws.on('error', (err) => { this.#logger?.debug({ remote, err }, 'stats client error') })
    ws.on('close', (code) => { this.#logger?.info({ remote, code }, 'stats client disconnected') })
  }

  #deliver (messages: readonly WireStatMessage[]): void {
    const receivedS = Math.floor(this.#clock.wallMs() / 1000)
    for (const m of messages) {
      const stat = m.stat
      if (stat === null || m.name === '') { this.counters.skippedMessages++; continue }
      if (stat.timestamp === 0) stat.timestamp = receivedS
      this.counters.messages++
      try {
        this.#consumer.onStat(m.namespace, m.name, stat)
      } catch (err) {
        this.#logger?.error({ err, namespace: m.namespace, name: m.name }, 'stat consumer failed')
      }
    }
  }
}
