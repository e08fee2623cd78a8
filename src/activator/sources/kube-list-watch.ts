// List then watch one Kubernetes resource, the way client-go's reflector does, small enough to read:
//
//   list (paged) --rv--> watch from rv --event--> handler, rv = event's rv
//        ^                  |  closed by the server / idle timeout: watch again from rv
//        |                  |  410 Gone (HTTP status or ERROR event): relist at once
//        +-- backoff <------+  any other error: wait (exponential, jittered), then relist
//
// A relist hands the handler the complete set, so anything missed while disconnected (a DELETE in
// particular) is reconciled. client-node's own ListWatch stops for good on the first non-410 error and
// cannot be aborted mid-backoff, hence this loop. Only `Watch` (streaming) and CustomObjectsApi (raw JSON
// lists for any /apis group) are used from client-node, plus CoreV1Api for the one core resource read
// (Services, for mesh-compatibility-mode: its lists come back as typed objects, whose list metadata
// spells `continue` as `_continue`).

import { CoreV1Api, CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node'
import type { Logger } from '../../shared/logger.ts'
import { isRecord } from './revision-validation.ts'

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED'

export interface ListWatchHandler {
  /** After every (re)list: the complete current set. */
  onList (items: readonly unknown[]): void
  onEvent (type: WatchEventType, object: unknown): void
}

export interface KubeResource {
  /** API group, e.g. `discovery.k8s.io`; '' = the core group (`/api/v1`), where only `services` is supported. */
  readonly group: string
  readonly version: string
  readonly plural: string
}

export interface BackoffOptions {
  readonly initialMs: number
  readonly maxMs: number
}

export interface ListWatchOptions {
  readonly kubeConfig: KubeConfig
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
/** Longest close() waits for a list in flight. */
const CLOSE_WAIT_MS = 1_000
/** Pages per list; 500 x 1,000 objects is far beyond any cluster this serves. */
const MAX_PAGES = 1_000

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
  readonly #api: CustomObjectsApi
  /** Lists of the core group (group ''); null for /apis groups. */
  readonly #core: CoreV1Api | null
  readonly #watch: Watch
  readonly #resource: KubeResource
  readonly #namespace: string | null
  readonly #labelSelector: string
  readonly #handler: ListWatchHandler
  readonly #logger: Logger
  readonly #backoff: BackoffOptions
  readonly #watchTimeoutSeconds: number
  readonly #pageSize: number
  readonly #random: () => number
  readonly #watchPath: string
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
    this.#api = opts.kubeConfig.makeApiClient(CustomObjectsApi)
    this.#core = opts.resource.group === '' ? opts.kubeConfig.makeApiClient(CoreV1Api) : null
    if (this.#core !== null && opts.resource.plural !== 'services') throw new Error(`ListWatchLoop: core resource ${opts.resource.plural} is not supported`)
    this.#watch = new Watch(opts.kubeConfig)
    this.#resource = opts.resource
    this.#namespace = opts.namespace
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
    this.#watchPath = r.group === '' ? `/api/${r.version}${ns}/${r.plural}` : `/apis/${r.group}/${r.version}${ns}/${r.plural}`
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

  /**
   * Aborts the watch or the backoff wait, and waits for the loop to end. A list in flight cannot be
   * aborted (the generated client takes no signal): close() waits at most CLOSE_WAIT_MS for it, and its
   * result is dropped.
   */
  async close (): Promise<void> {
    this.#closed = true
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
          this.#logger.warn({ err, retryInMs: this.#nextBackoffMs }, 'kubernetes relist failed')
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
  #watchOnce (): Promise<WatchOutcome> {
    return new Promise<WatchOutcome>((resolve) => {
      const startedMs = performance.now()
      let events = 0
      let expired = false
      let failed = false
      let settled = false
      const finish = (err: unknown): void => {
        if (settled) return
        settled = true
        this.#controller = null
        if (this.#closed) { resolve('stopped'); return }
        if (expired || errorStatus(err) === 410) { resolve('expired'); return }
        if (failed || (err !== null && err !== undefined && !isTimeoutError(err))) {
          this.#logger.warn({ err, retryInMs: this.#nextBackoffMs }, 'kubernetes watch failed; relisting after backoff')
          resolve('error')
          return
        }
        // Closed by the server (timeoutSeconds) or idle for the client's 30 s timeout: watch again,
        // unless it closed at once with nothing to say (a proxy cutting us off): then back off.
        if (events === 0 && performance.now() - startedMs < MIN_HEALTHY_WATCH_MS) {
          this.#logger.warn({ retryInMs: this.#nextBackoffMs }, 'kubernetes watch closed immediately; relisting after backoff')
          resolve('error')
          return
        }
        resolve('closed')
      }
      const onEvent = (phase: string, object: unknown): void => {
        if (settled || this.#closed) return
        if (phase === 'ERROR') {
          // A Status object; 410 = our resourceVersion is too old. Either way this watch is done.
          if (isRecord(object) && object.code === 410) expired = true
          else failed = true
          this.#logger.debug({ status: object }, 'kubernetes watch ERROR event')
          if (this.#controller !== null) this.#controller.abort()
          return
        }
        const rv = resourceVersionOf(object)
        if (rv !== null) this.#resourceVersion = rv
        events++
        this.#nextBackoffMs = this.#backoff.initialMs
        if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') {
          try {
            this.#handler.onEvent(phase, object)
          } catch (err) {
            this.#logger.error({ err }, 'kubernetes watch handler failed')
          }
        }
        // BOOKMARK: only the resourceVersion matters.
      }
      // Server-side timeout jittered like client-go (timeout x [1, 2)), so replicas do not reconnect together.
      const timeoutSeconds = Math.floor(this.#watchTimeoutSeconds * (1 + this.#random()))
      const query = {
        labelSelector: this.#labelSelector === '' ? undefined : this.#labelSelector,
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
      }
      this.#watches++
      this.#watch.watch(this.#watchPath, query, onEvent, finish).then((controller) => {
        if (settled || this.#closed || expired || failed) controller.abort()
        else this.#controller = controller
      }, finish)
    })
  }

  async #listAll (): Promise<{ items: unknown[], resourceVersion: string }> {
    this.#lists++
    const items: unknown[] = []
    let resourceVersion = ''
    let cont: string | undefined
    for (let page = 0; page < MAX_PAGES; page++) {
      let body: unknown
      try {
        body = await this.#listPage(cont)
      } catch (err) {
        const status = errorStatus(err)
        throw new KubeListError(`cannot list ${this.#resource.plural}.${this.#resource.group}: ${describeKubeError(err)}`, status, { cause: err })
      }
      if (!isRecord(body) || !Array.isArray(body.items) || !isRecord(body.metadata)) {
        throw new KubeListError(`cannot list ${this.#resource.plural}.${this.#resource.group}: not a list object`, null)
      }
      for (const item of body.items) items.push(item)
      // The first page's resourceVersion is the snapshot the whole paged list belongs to.
      if (page === 0 && typeof body.metadata.resourceVersion === 'string') resourceVersion = body.metadata.resourceVersion
      const next = body.metadata.continue ?? body.metadata._continue
      if (typeof next !== 'string' || next === '') return { items, resourceVersion }
      cont = next
    }
    throw new KubeListError(`cannot list ${this.#resource.plural}.${this.#resource.group}: more than ${MAX_PAGES} pages`, null)
  }

  #listPage (cont: string | undefined): Promise<unknown> {
    const r = this.#resource
    const core = this.#core
    if (core !== null) {
      const query = { labelSelector: this.#labelSelector === '' ? undefined : this.#labelSelector, limit: this.#pageSize, _continue: cont }
      return this.#namespace === null
        ? core.listServiceForAllNamespaces(query)
        : core.listNamespacedService({ ...query, namespace: this.#namespace })
    }
    const common = {
      group: r.group,
      version: r.version,
      plural: r.plural,
      labelSelector: this.#labelSelector === '' ? undefined : this.#labelSelector,
      limit: this.#pageSize,
      _continue: cont,
    }
    return this.#namespace === null
      ? this.#api.listClusterCustomObject(common)
      : this.#api.listNamespacedCustomObject({ ...common, namespace: this.#namespace })
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

/** HTTP status of a client-node error: ApiException.code (lists) or .statusCode (watch). */
function errorStatus (err: unknown): number | null {
  if (!isRecord(err)) return null
  if (typeof err.statusCode === 'number') return err.statusCode
  if (typeof err.code === 'number') return err.code
  return null
}

function isTimeoutError (err: unknown): boolean {
  return err instanceof Error && err.name === 'TimeoutError'
}

/** One line for logs and start errors: status and the Status message, or the network error. */
export function describeKubeError (err: unknown): string {
  const status = errorStatus(err)
  if (status !== null && isRecord(err)) {
    const body = err.body
    let message: unknown = null
    if (isRecord(body)) message = body.message
    else if (typeof body === 'string') {
      try {
        const parsed: unknown = JSON.parse(body)
        if (isRecord(parsed)) message = parsed.message
      } catch {}
    }
    return typeof message === 'string' ? `HTTP ${status}: ${message}` : `HTTP ${status}`
  }
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ''
    return err.message + cause
  }
  return String(err)
}
