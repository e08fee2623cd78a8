// The autoscaler's status endpoint, what a person watches during a demo:
//   GET /           the status page (status-page.ts: self-contained HTML, polls /status every second)
//   GET /status     JSON, StatusDocument below (?history=N limits samples per revision; default all)
//   GET /healthz    200 ok
// Read-only, off every request path; a snapshot is built per request from in-memory state.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../shared/logger.ts'
import type { ColdStartBreakdown } from './cold-start-breakdown.ts'
import type { RevisionStatus } from './revision-scaler.ts'
import type { StatServerCounters } from './stat-server.ts'
import { STATUS_PAGE_HTML } from './status-page.ts'

export const DEFAULT_STATUS_PORT = 9000
export const STATUS_DOCUMENT_VERSION = 1

export interface PodStatusView {
  readonly name: string
  /** starting | ready | terminating | stopped */
  readonly phase: string
  /** The activator routes to it. */
  readonly registered: boolean
  readonly servingAddress: string
  readonly ageMs: number
}

export interface RevisionStatusView extends RevisionStatus {
  /** Requests buffered in the activator for this revision, null when unknown. */
  readonly activatorQueueDepth: number | null
  readonly pods: readonly PodStatusView[]
  /** The last scale from zero, phase by phase (cold-start-breakdown.ts); null when not known (no local pods, none yet). */
  readonly coldStart: ColdStartBreakdown | null
}

export interface StatusDocument {
  readonly version: typeof STATUS_DOCUMENT_VERSION
  /** Wall-clock ms. */
  readonly generatedAtMs: number
  /** Where users send traffic (`sluice up --port`), null when not known. */
  readonly trafficUrl: string | null
  readonly statServer: (StatServerCounters & { readonly port: number, readonly clients: number }) | null
  readonly revisions: readonly RevisionStatusView[]
}

/** Builds the document; `historyLimit` caps samples per revision. */
export type StatusSnapshot = (historyLimit: number) => StatusDocument

const PAGE = Buffer.from(STATUS_PAGE_HTML, 'utf8')
const MAX_HISTORY = 10_000

function send (res: ServerResponse, status: number, type: string, body: Buffer | string, head: boolean): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
  res.writeHead(status, { 'content-type': type, 'content-length': buf.length, 'cache-control': 'no-store' })
  res.end(head ? undefined : buf)
}

export interface StatusServerOptions {
  readonly port?: number
  readonly host?: string
  readonly snapshot: StatusSnapshot
  readonly logger?: Logger | null
}

export class StatusServer {
  readonly #server: Server
  readonly #snapshot: StatusSnapshot
  readonly #logger: Logger | null
  readonly #requestedPort: number
  readonly #host: string
  #port: number

  constructor (options: StatusServerOptions) {
    this.#snapshot = options.snapshot
    this.#logger = options.logger ?? null
    this.#requestedPort = options.port ?? DEFAULT_STATUS_PORT
    this.#host = options.host ?? '127.0.0.1'
    this.#port = 0
    this.#server = createServer((req, res) => { this.#handle(req, res) })
  }

  get port (): number { return this.#port }

  listen (): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.#requestedPort, this.#host, () => {
        this.#server.off('error', reject)
        this.#port = (this.#server.address() as AddressInfo).port
        resolve(this.#port)
      })
    })
  }

  close (): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => { resolve() })
      this.#server.closeAllConnections()
    })
  }

  #handle (req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://status')
    const head = req.method === 'HEAD'
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD')
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', false)
      return
    }
    try {
      switch (url.pathname) {
        case '/':
        case '/index.html':
          send(res, 200, 'text/html; charset=utf-8', PAGE, head)
          return
        case '/status': {
          const raw = url.searchParams.get('history')
          const n = raw === null ? MAX_HISTORY : Number(raw)
          const limit = Number.isInteger(n) && n >= 0 ? Math.min(n, MAX_HISTORY) : MAX_HISTORY
          send(res, 200, 'application/json; charset=utf-8', JSON.stringify(this.#snapshot(limit)), head)
          return
        }
        case '/healthz':
          send(res, 200, 'text/plain; charset=utf-8', 'ok\n', head)
          return
        default:
          send(res, 404, 'text/plain; charset=utf-8', 'not found\n', head)
      }
    } catch (err) {
      this.#logger?.error({ err }, 'status request failed')
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n', head)
      else res.destroy()
    }
  }
}
