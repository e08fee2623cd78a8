import type { IncomingMessage } from 'node:http'
import { ANSWER_CODES, ERROR_CODE_HEADER } from '../shared/errors.ts'
import type { Duplex } from 'node:stream'
import { requestHost } from '../proxy/request-host.ts'
import type { InboundRequest, InboundResponse } from '../server/inbound.ts'
import type { ActivatorProbes } from './activator-probes.ts'
import type { Revision } from './revision.ts'

// The activator's front door: probes are answered (activator-probes.ts), every other request is
// routed to a revision and handed to its RevisionProxy. Routing as Knative's context handler: the
// `Knative-Serving-Namespace` + `Knative-Serving-Revision` headers the ingress sets; when either is
// missing, the Host header (configured hosts, then `<name>.<namespace>.svc…`). Unknown -> 404.

/** What routing needs from the registry. */
export interface RevisionLookup {
  lookup (namespace: string, name: string): Revision | undefined
  lookupHost (host: string): Revision | undefined
}

export interface DrainState {
  readonly isDraining: boolean
  touch (): void
}

const NOT_FOUND_HEADERS = ['content-type', 'text/plain; charset=utf-8', 'x-content-type-options', 'nosniff', ERROR_CODE_HEADER, ANSWER_CODES.revisionNotFound]

export class ActivatorHandler {
  readonly #revisions: RevisionLookup
  readonly #probes: ActivatorProbes
  readonly #drain: DrainState
  readonly #default: { readonly namespace: string, readonly name: string } | null

  constructor (revisions: RevisionLookup, probes: ActivatorProbes, drain: DrainState,
    defaultRevision: { readonly namespace: string, readonly name: string } | null = null) {
    this.#revisions = revisions
    this.#probes = probes
    this.#drain = drain
    this.#default = defaultRevision
    this.handle = this.handle.bind(this)
    this.handleUpgrade = this.handleUpgrade.bind(this)
  }

  handle (req: InboundRequest, res: InboundResponse): void {
    if (this.#probes.tryAnswer(req, res)) return
    if (this.#drain.isDraining) this.#drain.touch()
    const revision = this.#route(req)
    if (revision === undefined) {
      // Drain the request body (if any) so the connection can be reused for the next request.
      req.resume()
      const body = Buffer.from(notFoundMessage(req))
      res.writeHead(404, [...NOT_FOUND_HEADERS, 'content-length', String(body.length)])
      res.end(body)
      return
    }
    revision.proxy.handle(req, res)
  }

  handleUpgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#drain.isDraining) this.#drain.touch()
    const revision = this.#route(req)
    if (revision === undefined) {
      const body = notFoundMessage(req)
      socket.on('error', noop)
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${ERROR_CODE_HEADER}: ${ANSWER_CODES.revisionNotFound}\r\nConnection: close\r\n\r\n${body}`)
      return
    }
    revision.proxy.handleUpgrade(req, socket, head)
  }

  #route (req: InboundRequest): Revision | undefined {
    const h = req.headers
    const namespace = h['knative-serving-namespace']
    const name = h['knative-serving-revision']
    if (typeof namespace === 'string' && namespace !== '' && typeof name === 'string' && name !== '') {
      return this.#revisions.lookup(namespace, name)
    }
    const host = requestHost(req)
    const byHost = host === undefined || host === '' ? undefined : this.#revisions.lookupHost(host)
    if (byHost !== undefined || this.#default === null) return byHost
    return this.#revisions.lookup(this.#default.namespace, this.#default.name)
  }
}

function notFoundMessage (req: InboundRequest): string {
  const h = req.headers
  const namespace = h['knative-serving-namespace']
  const name = h['knative-serving-revision']
  if (typeof namespace === 'string' && namespace !== '' && typeof name === 'string' && name !== '') {
    return `revision not found: ${namespace}/${name}\n`
  }
  return `no revision for host ${JSON.stringify(requestHost(req) ?? '')}: send Knative-Serving-Namespace and Knative-Serving-Revision headers, or configure the host on a revision\n`
}

function noop (): void {}
