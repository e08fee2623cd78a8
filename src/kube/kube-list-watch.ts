// List then watch one Kubernetes resource, the way client-go's reflector does, small enough to read:
//
//   list (paged) --rv--> watch from rv --event--> handler, rv = event's rv (BOOKMARK: rv only)
//        ^                  |  closed by the server (timeoutSeconds): watch again from rv
//        |                  |  410 Gone (HTTP status or ERROR event): relist at once
//        +-- backoff <------+  any other error (an ERROR Status, a reset, a malformed line, silence
//                              long past timeoutSeconds): wait (exponential, jittered), then relist
//
// A relist hands the handler the complete set, so anything missed while disconnected (a DELETE in
// particular) is reconciled. Requests go through KubeApiClient (kube-api-client.ts): raw JSON lists of
// any group, the core group's /api/v1 included, and a line-by-line watch stream; close() aborts both.

import { KubeApiError } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import type { WatchRequest } from './kube-api-client.ts'
import { isRecord } from '../shared/is-record.ts'

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED'

export interface ListWatchHandler {
  /** After every (re)list: the complete current set. */
  onList (items: readonly unknown[]): void
  onEvent (type: WatchEventType, object: unknown): void
}

/** What the loop needs of KubeApiClient (tests may pass their own). */
export interface KubeApi {
  getJson (path: string, query: URLSearchParams, signal: AbortSignal): Promise<unknown>
  watch (path: string, query: URLSearchParams, req: WatchRequest): Promise<void>
}

export interface KubeResource {
  /** API group, e.g. `discovery.k8s.io`; '' = the core group (`/api/v1`). */
  readonly group: string
  readonly version: string
  readonly plural: string
}

export interface BackoffOptions {
  readonly initialMs: number
  readonly maxMs: number
}

export interface ListWatchOptions {
  readonly client: KubeApi
  readonly resource: KubeResource
  /** null = all namespaces. */
  readonly namespace: string | null
  /** '' = everything. */
  readonly labelSelector: string
  readonly handler: ListWatchHandler
  readonly logger: Logger
  readonly backoff?: BackoffOptions
  /** Server-side watch timeout; the API server ends the watch after it and we watch again. */
  readonly watchTimeoutSeconds?: number
  /** Page size for lists. */
  readonly pageSize?: number
  /** In [0, 1); jitter for backoff and the watch timeout. */
  readonly random?: () => number
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 }
export const DEFAULT_WATCH_TIMEOUT_SECONDS = 300
export const DEFAULT_PAGE_SIZE = 500
/** A watch that ends sooner than this without a single event counts as a failure (no hot loop). */
const MIN_HEALTHY_WATCH_MS = 1_000
/** Longest close() waits for the loop to end after aborting its request. */
const CLOSE_WAIT_MS = 1_000
/** Pages per list; 500 x 1,000 objects is far beyond any cluster this serves. */
const MAX_PAGES = 1_000
/** A watch silent this much longer than its timeoutSeconds is given up (the server should have ended it). */
const WATCH_IDLE_GRACE_MS = 60_000

type WatchOutcome = 'closed' | 'expired' | 'error' | 'stopped'

/** A list failed; `status` is the HTTP status when the server answered. */
export class KubeListError extends Error {
  readonly status: number | null
  constructor (message: string, status: number | null, options?: ErrorOptions) {
    super(message, options)
    this.name = 'KubeListError'
    this.status = status
  }
}

export class ListWatchLoop {
  readonly #client: KubeApi
  readonly #resource: KubeResource
  readonly #labelSelector: string
  readonly #handler: ListWatchHandler
  readonly #logger: Logger
  readonly #backoff: BackoffOptions
  readonly #watchTimeoutSeconds: number
  readonly #pageSize: number
  readonly #random: () => number
  readonly #path: string
  /** Aborted by close(): ends a list in flight and the backoff wait. */
  readonly #lifetime = new AbortController()
  #resourceVersion = ''
  #nextBackoffMs: number
  #closed = false
  #running: Promise<void> | null = null
  #controller: AbortController | null = null
  #sleepTimer: NodeJS.Timeout | null = null
  #wake: (() => void) | null = null
  #lists = 0
  #watches = 0

  constructor (opts: ListWatchOptions) {
    this.#client = opts.client
    this.#resource = opts.resource
    this.#labelSelector = opts.labelSelector
    this.#handler = opts.handler
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF
    this.#watchTimeoutSeconds = opts.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_SECONDS
    this.#pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE
    this.#random = opts.random ?? Math.random
    this.#nextBackoffMs = this.#backoff.initialMs
    const r = opts.resource
    this.#logger = opts.logger.child({ resource: r.group === '' ? r.plural : `${r.plural}.${r.group}` })
    const ns = opts.namespace === null ? '' : `/namespaces/${encodeURIComponent(opts.namespace)}`
    this.#path = r.group === '' ? `/api/${r.version}${ns}/${r.plural}` : `/apis/${r.group}/${r.version}${ns}/${r.plural}`
  }

  get resourceVersion (): string { return this.#resourceVersion }
  /** Lists and watches started so far (logs, tests). */
  get listCount (): number { return this.#lists }
  get watchCount (): number { return this.#watches }

  /** The first list; rejects (KubeListError) when it fails. Call watchInBackground() after. */
  async list (): Promise<void> {
    const { items, resourceVersion } = await this.#listAll()
    if (this.#closed) return
    this.#resourceVersion = resourceVersion
    this.#handler.onList(items)
  }

  /** Watches (and relists) until close(). */
  watchInBackground (): void {
    if (this.#running !== null || this.#closed) return
    this.#running = this.#run()
  }

  /** Aborts the list, the watch or the backoff wait, and waits (at most CLOSE_WAIT_MS) for the loop to end. */
  async close (): Promise<void> {
    this.#closed = true
    this.#lifetime.abort()
    if (this.#controller !== null) this.#controller.abort()
    if (this.#sleepTimer !== null) clearTimeout(this.#sleepTimer)
    if (this.#wake !== null) this.#wake()
    if (this.#running === null) return
    let timer: NodeJS.Timeout | null = null
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS)
      timer.unref()
    })
    await Promise.race([this.#running, bound])
    if (timer !== null) clearTimeout(timer)
  }

  async #run (): Promise<void> {
    let relist = false
    while (!this.#closed) {
      if (relist) {
        try {
          await this.list()
          relist = false
        } catch (err) {
          if (this.#closed) return
          this.#logger.warn({ err, reason: describeKubeError(err), retryInMs: this.#nextBackoffMs }, 'kubernetes relist failed')
          await this.#sleepBackoff()
          continue
        }
      }
      const outcome = await this.#watchOnce()
      switch (outcome) {
        case 'stopped':
          return
        case 'closed':
          break
        case 'expired':
          // The watch window moved past our resourceVersion: nothing to wait for, relist now.
          this.#logger.info('kubernetes watch expired (410 Gone); relisting')
          relist = true
          break
        case 'error':
          relist = true
          await this.#sleepBackoff()
          break
      }
    }
  }

  /** One watch from the current resourceVersion, until it ends. Never rejects. */
  async #watchOnce (): Promise<WatchOutcome> {
    const startedMs = performance.now()
    const controller = new AbortController()
    this.#controller = controller
    const watch = new WatchEvents(this, controller)
    // Server-side timeout jittered like client-go (timeout x [1, 2)), so replicas do not reconnect together.
    const timeoutSeconds = Math.floor(this.#watchTimeoutSeconds * (1 + this.#random()))
    const query = new URLSearchParams({ watch: '1', resourceVersion: this.#resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) })
    if (this.#labelSelector !== '') query.set('labelSelector', this.#labelSelector)
    this.#watches++
    let err: unknown = null
    try {
      await this.#client.watch(this.#path, query, { handler: watch, signal: controller.signal, idleTimeoutMs: timeoutSeconds * 1000 + WATCH_IDLE_GRACE_MS })
    } catch (e) {
      err = e
    }
    this.#controller = null
    if (this.#closed) return 'stopped'
    if (watch.expired || errorStatus(err) === 410) return 'expired'
    if (watch.failure !== null) {
      this.#logger.warn({ reason: statusMessage(watch.failure), status: watch.failure, retryInMs: this.#nextBackoffMs }, 'kubernetes watch ERROR event; relisting after backoff')
      return 'error'
    }
    if (err !== null) {
      this.#logger.warn({ err, reason: describeKubeError(err), retryInMs: this.#nextBackoffMs }, 'kubernetes watch failed; relisting after backoff')
      return 'error'
    }
    // Closed by the server (timeoutSeconds): watch again, unless it closed at once with nothing to
    // say (a proxy cutting us off): then back off.
    if (watch.events === 0 && performance.now() - startedMs < MIN_HEALTHY_WATCH_MS) {
      this.#logger.warn({ retryInMs: this.#nextBackoffMs }, 'kubernetes watch closed immediately; relisting after backoff')
      return 'error'
    }
    return 'closed'
  }

  /** Internal (WatchEvents calls it for each event but ERROR): the resourceVersion moves on, the handler gets the change. */
  onWatchObject (type: string, object: unknown): void {
    const rv = resourceVersionOf(object)
    if (rv !== null) this.#resourceVersion = rv
    this.#nextBackoffMs = this.#backoff.initialMs
    if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
      try {
        this.#handler.onEvent(type, object)
      } catch (err) {
        this.#logger.error({ err }, 'kubernetes watch handler failed')
      }
    }
    // BOOKMARK: only the resourceVersion matters.
  }

  async #listAll (): Promise<{ items: unknown[], resourceVersion: string }> {
    this.#lists++
    const items: unknown[] = []
    let resourceVersion = ''
    let cont = ''
    const what = this.#resource.group === '' ? this.#resource.plural : `${this.#resource.plural}.${this.#resource.group}`
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = new URLSearchParams({ limit: String(this.#pageSize) })
      if (this.#labelSelector !== '') query.set('labelSelector', this.#labelSelector)
      if (cont !== '') query.set('continue', cont)
      let body: unknown
      try {
        body = await this.#client.getJson(this.#path, query, this.#lifetime.signal)
      } catch (err) {
        throw new KubeListError(`cannot list ${what}: ${describeKubeError(err)}`, errorStatus(err), { cause: err })
      }
      if (!isRecord(body) || !Array.isArray(body.items) || !isRecord(body.metadata)) {
        throw new KubeListError(`cannot list ${what}: not a list object`, null)
      }
      for (const item of body.items) items.push(item)
      // The first page's resourceVersion is the snapshot the whole paged list belongs to.
      if (page === 0 && typeof body.metadata.resourceVersion === 'string') resourceVersion = body.metadata.resourceVersion
      const next = body.metadata.continue
      if (typeof next !== 'string' || next === '') return { items, resourceVersion }
      cont = next
    }
    throw new KubeListError(`cannot list ${what}: more than ${MAX_PAGES} pages`, null)
  }

  /** Waits the current backoff (jittered to [0.5, 1) of it, cut short by close()) and doubles it. */
  #sleepBackoff (): Promise<void> {
    const ms = this.#nextBackoffMs * (0.5 + this.#random() / 2)
    this.#nextBackoffMs = Math.min(this.#nextBackoffMs * 2, this.#backoff.maxMs)
    if (this.#closed) return Promise.resolve()
    return new Promise<void>((resolve) => {
      this.#wake = resolve
      this.#sleepTimer = setTimeout(() => {
        this.#sleepTimer = null
        this.#wake = null
        resolve()
      }, ms)
    })
  }
}

function resourceVersionOf (object: unknown): string | null {
  if (!isRecord(object) || !isRecord(object.metadata)) return null
  const rv = object.metadata.resourceVersion
  return typeof rv === 'string' && rv !== '' ? rv : null
}

/** The handler of one watch: BOOKMARKs and changes go to the loop, an ERROR event ends the watch. */
class WatchEvents {
  readonly #loop: ListWatchLoop
  readonly #controller: AbortController
  events = 0
  /** An ERROR event with a 410 Status: our resourceVersion is too old. */
  expired = false
  /** Any other ERROR event's Status. */
  failure: unknown = null

  constructor (loop: ListWatchLoop, controller: AbortController) {
    this.#loop = loop
    this.#controller = controller
  }

  onWatchEvent (type: string, object: unknown): void {
    if (this.expired || this.failure !== null || this.#controller.signal.aborted) return
    if (type === 'ERROR') {
      if (isRecord(object) && object.code === 410) this.expired = true
      else this.failure = object
      this.#controller.abort()
      return
    }
    this.events++
    this.#loop.onWatchObject(type, object)
  }
}

/** HTTP status of a failed request (KubeApiError.status), or null. */
function errorStatus (err: unknown): number | null {
  return err instanceof KubeApiError ? err.status : null
}

function statusMessage (status: unknown): string {
  if (!isRecord(status)) return 'not a Status'
  const code = typeof status.code === 'number' ? `${status.code} ` : ''
  return typeof status.message === 'string' ? `${code}${status.message}` : `${code}(no message)`
}

/** One line for logs and start errors: the KubeApiError's (status and message), else the error and its cause. */
export function describeKubeError (err: unknown): string {
  if (err instanceof KubeApiError) return err.message
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ''
    return err.message + cause
  }
  return String(err)
}
