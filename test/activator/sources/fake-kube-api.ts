// A small fake Kubernetes API server for the Kubernetes source tests (no cluster here). It speaks the
// part of the API that list+watch needs, for any /apis/{group}/{version}/[namespaces/{ns}/]{plural}:
//
// - list: `GET ...` -> `{kind: <Kind>List, metadata: {resourceVersion, continue?}, items}`, filtered by
//   namespace and labelSelector (`k`, `!k`, `k=v`, `k==v`, `k!=v`, comma-separated), paged by
//   limit/continue.
// - watch: `GET ...?watch=true|1&resourceVersion=N` -> 200 and newline-delimited JSON events
//   `{type: ADDED|MODIFIED|DELETED, object}`: first the history after N, then live events. A
//   resourceVersion older than the last compact() gets `410 Gone`, either as an HTTP status or as
//   200 + an ERROR event carrying a Status with code 410 (both happen with real API servers).
//
// resourceVersions are one global counter, as in etcd. Test controls: apply/remove (with events),
// applySilently/removeSilently (as if it happened while nobody watched and history was compacted),
// compact, expireWatches (ERROR 410 then close), endWatches (clean close), failLists (answer lists
// with an error status), bookmark, writeToWatches (raw bytes: split or malformed lines), failWatches
// (an ERROR event with any Status), killWatches (the server dying mid-watch).
//
// Plain HTTP by default; with `tls` it serves HTTPS (and with `clientCa` asks for a client
// certificate and refuses a connection without one). `authorize` (null = anyone) decides whether a
// request's Authorization header is good; others get a 401 Status.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { TLSSocket } from 'node:tls'

export interface FakeKubeApiOptions {
  readonly tls?: { readonly cert: Buffer, readonly key: Buffer, readonly clientCa?: Buffer }
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED'

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata: { name: string, namespace: string, labels?: Record<string, string>, resourceVersion?: string, [k: string]: unknown }
  [k: string]: unknown
}

interface HistoryEntry { rv: number, type: EventType, object: KubeObject }

interface Store {
  readonly kind: string
  readonly objects: Map<string, KubeObject>
  history: HistoryEntry[]
}

interface OpenWatch {
  readonly plural: string
  readonly namespace: string | null
  readonly selector: string
  readonly res: ServerResponse
}

export interface RequestRecord {
  readonly method: string
  readonly path: string
  readonly query: URLSearchParams
  readonly authorization: string | null
  readonly userAgent: string | null
  readonly accept: string | null
  /** The client certificate's subject CN (HTTPS with clientCa), else null. */
  readonly clientCn: string | null
}

const KINDS: Record<string, string> = { endpointslices: 'EndpointSlice', revisions: 'Revision', services: 'Service' }

export class FakeKubeApi {
  readonly #server: Server
  readonly #stores = new Map<string, Store>()
  readonly #watches = new Set<OpenWatch>()
  #rv = 1000
  #compactedRv = 0
  #failLists: { count: number, status: number } = { count: 0, status: 500 }
  /** How a too-old resourceVersion is answered. */
  goneAs: 'event' | 'status' = 'event'
  readonly requests: RequestRecord[] = []
  /** null = every request is authorised; else requests it returns false for get 401. */
  authorize: ((authorization: string | null) => boolean) | null = null
  url = ''
  readonly #scheme: 'http' | 'https'
  readonly #tlsServer: TlsServer | null

  constructor (opts: FakeKubeApiOptions = {}) {
    const handler = (req: IncomingMessage, res: ServerResponse): void => { this.#handle(req, res) }
    const tls = opts.tls
    this.#scheme = tls === undefined ? 'http' : 'https'
    this.#tlsServer = tls === undefined
      ? null
      : createTlsServer({ cert: tls.cert, key: tls.key, ca: tls.clientCa, requestCert: tls.clientCa !== undefined, rejectUnauthorized: tls.clientCa !== undefined }, handler)
    this.#server = this.#tlsServer ?? createServer(handler)
  }

  async start (): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    const address: AddressInfo | string | null = this.#server.address()
    if (address === null || typeof address === 'string') throw new Error('no port')
    this.url = `${this.#scheme}://127.0.0.1:${address.port}`
    return this.url
  }

  get port (): number {
    const address = this.#server.address()
    return address === null || typeof address === 'string' ? 0 : address.port
  }

  async close (): Promise<void> {
    for (const w of this.#watches) w.res.end()
    this.#watches.clear()
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => { resolve() }))
  }

  get resourceVersion (): number { return this.#rv }

  /** Adds or replaces an object and sends ADDED/MODIFIED to matching watches. */
  apply (plural: string, object: KubeObject): void {
    const store = this.#store(plural)
    const key = `${object.metadata.namespace}/${object.metadata.name}`
    const type: EventType = store.objects.has(key) ? 'MODIFIED' : 'ADDED'
    const stored = this.#stamp(object)
    store.objects.set(key, stored)
    this.#record(plural, store, type, stored)
  }

  /** Deletes an object and sends DELETED (the last state, with a new resourceVersion). */
  remove (plural: string, namespace: string, name: string): void {
    const store = this.#store(plural)
    const key = `${namespace}/${name}`
    const old = store.objects.get(key)
    if (old === undefined) return
    store.objects.delete(key)
    this.#record(plural, store, 'DELETED', this.#stamp(old))
  }

  /** Changes state without events or history: only a relist can see it. */
  applySilently (plural: string, object: KubeObject): void {
    this.#store(plural).objects.set(`${object.metadata.namespace}/${object.metadata.name}`, this.#stamp(object))
    this.compact()
  }

  removeSilently (plural: string, namespace: string, name: string): void {
    this.#store(plural).objects.delete(`${namespace}/${name}`)
    this.#rv++
    this.compact()
  }

  /** Forgets history: a watch from any resourceVersion before now gets 410 Gone. */
  compact (): void {
    this.#compactedRv = this.#rv
    for (const store of this.#stores.values()) store.history = []
  }

  /** Sends an ERROR event with a 410 Status to every open watch, then closes them. */
  expireWatches (): void {
    for (const w of this.#watches) {
      writeEvent(w.res, 'ERROR', goneStatus())
      w.res.end()
    }
    this.#watches.clear()
  }

  /** Ends every open watch cleanly (as the server-side timeout does). */
  endWatches (): void {
    for (const w of this.#watches) w.res.end()
    this.#watches.clear()
  }

  /** Sends a BOOKMARK (the current resourceVersion, no object) to every open watch. */
  bookmark (): void {
    const object = { kind: 'Bookmark', apiVersion: 'v1', metadata: { resourceVersion: String(++this.#rv) } }
    for (const w of this.#watches) writeEvent(w.res, 'BOOKMARK', object)
  }

  /** Writes raw bytes to every open watch of `plural` (a line in pieces, a malformed line). */
  writeToWatches (plural: string, data: string): void {
    for (const w of this.#watches) if (w.plural === plural) w.res.write(data)
  }

  /** An ERROR event carrying a Status with `code` and `message`, then the watches close. */
  failWatches (code: number, message: string): void {
    for (const w of this.#watches) {
      writeEvent(w.res, 'ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'InternalError', code })
      w.res.end()
    }
    this.#watches.clear()
  }

  /** The server dies mid-watch: every watch's connection is destroyed without a proper end. */
  killWatches (): void {
    for (const w of this.#watches) w.res.socket?.destroy()
    this.#watches.clear()
  }

  /** HTTPS: the certificate new connections get (a rotation, or a wrong one). */
  useCertificate (cert: Buffer, key: Buffer): void {
    if (this.#tlsServer === null) throw new Error('useCertificate: not an HTTPS fake')
    this.#tlsServer.setSecureContext({ cert, key })
  }

  /** Closes every connection, idle keep-alive ones included, so the next request connects (and handshakes) again. */
  dropConnections (): void {
    this.#watches.clear()
    this.#server.closeAllConnections()
  }

  /** The next `count` list requests get `status`. */
  failLists (count: number, status: number): void {
    this.#failLists = { count, status }
  }

  openWatches (plural: string): number {
    let n = 0
    for (const w of this.#watches) if (w.plural === plural) n++
    return n
  }

  count (plural: string, kind: 'list' | 'watch'): number {
    return this.requests.filter((r) => r.path.endsWith('/' + plural) && isWatch(r.query) === (kind === 'watch')).length
  }

  /** Polls `check` every 5 ms; rejects after timeoutMs. */
  async until (check: () => boolean, timeoutMs = 3000): Promise<void> {
    const deadline = performance.now() + timeoutMs
    while (!check()) {
      if (performance.now() > deadline) throw new Error('FakeKubeApi.until: timed out')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  #store (plural: string): Store {
    let store = this.#stores.get(plural)
    if (store === undefined) {
      store = { kind: KINDS[plural] ?? 'Object', objects: new Map(), history: [] }
      this.#stores.set(plural, store)
    }
    return store
  }

  #stamp (object: KubeObject): KubeObject {
    const copy = structuredClone(object)
    copy.metadata.resourceVersion = String(++this.#rv)
    return copy
  }

  #record (plural: string, store: Store, type: EventType, object: KubeObject): void {
    store.history.push({ rv: this.#rv, type, object })
    for (const w of this.#watches) {
      if (w.plural === plural && matches(object, w.namespace, w.selector)) writeEvent(w.res, type, object)
    }
  }

  #handle (req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake')
    const authorization = req.headers.authorization ?? null
    const socket = req.socket
    const clientCn = socket instanceof TLSSocket ? peerCn(socket) : null
    this.requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      authorization,
      userAgent: req.headers['user-agent'] ?? null,
      accept: req.headers.accept ?? null,
      clientCn,
    })
    if (this.authorize !== null && !this.authorize(authorization)) {
      sendStatus(res, 401, 'Unauthorized', 'Unauthorized')
      return
    }
    // /apis/<group>/<version>/... or the core group's /api/<version>/...
    const m = /^\/(?:apis\/[^/]+|api)\/([^/]+)\/(?:namespaces\/([^/]+)\/)?([^/]+)$/.exec(url.pathname)
    if (req.method !== 'GET' || m === null) {
      sendStatus(res, 404, 'NotFound', `the server could not find the requested resource: ${url.pathname}`)
      return
    }
    const namespace = m[2] ?? null
    const plural = m[3]
    const selector = url.searchParams.get('labelSelector') ?? ''
    if (isWatch(url.searchParams)) this.#watch(res, plural, namespace, selector, url.searchParams.get('resourceVersion') ?? '')
    else this.#list(res, plural, namespace, selector, url.searchParams)
  }

  #list (res: ServerResponse, plural: string, namespace: string | null, selector: string, query: URLSearchParams): void {
    if (this.#failLists.count > 0) {
      this.#failLists.count--
      sendStatus(res, this.#failLists.status, 'InternalError', `injected failure ${this.#failLists.status}`)
      return
    }
    const store = this.#store(plural)
    const all = [...store.objects.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o)
      .filter((o) => matches(o, namespace, selector))
    const offset = Number(query.get('continue') ?? '0')
    const limit = Number(query.get('limit') ?? '0')
    const end = limit > 0 ? offset + limit : all.length
    const metadata: Record<string, string> = { resourceVersion: String(this.#rv) }
    if (end < all.length) metadata.continue = String(end)
    sendJson(res, 200, { kind: `${store.kind}List`, apiVersion: 'v1', metadata, items: all.slice(offset, end) })
  }

  #watch (res: ServerResponse, plural: string, namespace: string | null, selector: string, rvParam: string): void {
    const rv = Number(rvParam === '' ? String(this.#rv) : rvParam)
    if (rv < this.#compactedRv) {
      if (this.goneAs === 'status') {
        sendJson(res, 410, goneStatus())
      } else {
        res.writeHead(200, { 'content-type': 'application/json' })
        writeEvent(res, 'ERROR', goneStatus())
        res.end()
      }
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.flushHeaders()
    for (const entry of this.#store(plural).history) {
      if (entry.rv > rv && matches(entry.object, namespace, selector)) writeEvent(res, entry.type, entry.object)
    }
    const open: OpenWatch = { plural, namespace, selector, res }
    this.#watches.add(open)
    res.on('close', () => { this.#watches.delete(open) })
  }
}

function peerCn (socket: TLSSocket): string | null {
  const cert = socket.getPeerCertificate()
  const cn = cert?.subject?.CN
  return typeof cn === 'string' ? cn : null
}

function isWatch (query: URLSearchParams): boolean {
  const w = query.get('watch')
  return w === 'true' || w === '1'
}

function matches (object: KubeObject, namespace: string | null, selector: string): boolean {
  if (namespace !== null && object.metadata.namespace !== namespace) return false
  const labels = object.metadata.labels ?? {}
  for (const raw of selector.split(',')) {
    const req = raw.trim()
    if (req === '') continue
    const ne = /^([^!=]+)!=(.*)$/.exec(req)
    const eq = ne === null ? /^([^!=]+)==?(.*)$/.exec(req) : null
    if (ne !== null) {
      if (labels[ne[1]] === ne[2]) return false
    } else if (eq !== null) {
      if (labels[eq[1]] !== eq[2]) return false
    } else if (req.startsWith('!')) {
      if (req.slice(1) in labels) return false
    } else if (!(req in labels)) {
      return false
    }
  }
  return true
}

function goneStatus (): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 }
}

function writeEvent (res: ServerResponse, type: string, object: unknown): void {
  res.write(JSON.stringify({ type, object }) + '\n')
}

function sendStatus (res: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code })
}

function sendJson (res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

// Object builders for the tests.

export interface SliceEndpoint {
  ip: string
  /** undefined = condition absent (counts as ready). */
  ready?: boolean
  /** Extra addresses after the first. */
  more?: string[]
}

export function endpointSlice (namespace: string, name: string, labels: Record<string, string>, endpoints: SliceEndpoint[], opts: { port?: number, portName?: string, addressType?: string, extraPorts?: Array<{ name: string, port: number }> } = {}): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels },
    addressType: opts.addressType ?? 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip, ...(e.more ?? [])],
      conditions: e.ready === undefined ? {} : { ready: e.ready, serving: e.ready, terminating: false },
    })),
    ports: [...(opts.extraPorts ?? []).map((p) => ({ ...p, protocol: 'TCP' })), { name: opts.portName ?? 'http', port: opts.port ?? 8012, protocol: 'TCP' }],
  }
}

/** Labels of a Knative revision's private service slice. */
export function privateLabels (revision: string): Record<string, string> {
  return {
    'serving.knative.dev/revision': revision,
    'serving.knative.dev/revisionUID': `uid-${revision}`,
    'networking.internal.knative.dev/serviceType': 'Private',
    'kubernetes.io/service-name': `${revision}-private`,
  }
}

export function knativeRevision (namespace: string, name: string, spec: { containerConcurrency?: number, timeoutSeconds?: number, responseStartTimeoutSeconds?: number, idleTimeoutSeconds?: number } = {}): KubeObject {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Revision',
    metadata: { name, namespace, labels: { 'serving.knative.dev/configuration': name.replace(/-\d+$/, '') } },
    spec: { containers: [{ image: 'example' }], ...spec },
  }
}

/** Labels of a Knative revision's public service slice (mirrored from the Endpoints Knative writes). */
export function publicLabels (revision: string): Record<string, string> {
  return {
    'serving.knative.dev/revision': revision,
    'serving.knative.dev/revisionUID': `uid-${revision}`,
    'networking.internal.knative.dev/serviceType': 'Public',
    'kubernetes.io/service-name': revision,
    'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io',
  }
}

/** A Knative revision's private Service (`<revision>-private`): its ClusterIP and `http` port. */
export function privateService (namespace: string, revision: string, clusterIP: string, port: number, opts: { portName?: string, name?: string } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: opts.name ?? `${revision}-private`,
      namespace,
      labels: { 'serving.knative.dev/revision': revision, 'serving.knative.dev/revisionUID': `uid-${revision}`, 'networking.internal.knative.dev/serviceType': 'Private' },
    },
    spec: {
      clusterIP,
      clusterIPs: [clusterIP],
      type: 'ClusterIP',
      ports: [
        { name: opts.portName ?? 'http', port, protocol: 'TCP', targetPort: 8012 },
        { name: 'http-autometric', port: 9090, protocol: 'TCP', targetPort: 9090 },
        { name: 'http-queueadm', port: 8022, protocol: 'TCP', targetPort: 8022 },
      ],
    },
  }
}

/** A kubeconfig (YAML) for `server` verified with the CA `caPem`, authenticated with a bearer token: a pod's credentials in file form. */
export function tokenKubeconfig (server: string, caPem: Buffer, token: string): string {
  return [
    `clusters: [{name: c, cluster: {server: "${server}", certificate-authority-data: ${caPem.toString('base64')}}}]`,
    `users: [{name: u, user: {token: ${token}}}]`,
    'contexts: [{name: x, context: {cluster: c, user: u}}]',
    'current-context: x',
  ].join('\n')
}
