// Scrapes a revision's sidecars (Knative's serviceScraper.scrapePods, pkg/autoscaler/metrics/
// stats_scraper.go): every second the collector asks for one Stat standing for the whole revision.
// A sample of the ready pods is scraped in parallel (all of them up to 3; fewer, in proportion,
// beyond: populationMeanSampleSize), pods older than the stable window preferred; the sum is
// scaled to the whole population. The result is named `service-scraper`: the autoscaler sees one
// scraper plus the activators, never individual pods.
//
// Each pod's metrics endpoint is asked for `application/protobuf` (Knative's wire Stat, what the
// sidecar serves) with a 3 s timeout; a JSON answer (`{"stats":[...]}`, stats-json.ts) is also
// accepted, so a user's own sidecar can be scraped without protobuf.

import { Agent, request } from 'undici'
import { realClock, type Clock } from '../shared/clock.ts'
import { StatDecodeError } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import { decodeStat } from '../stats/stat-proto.ts'
import { emptyStat, type Stat } from '../stats/stat.ts'

/** Knative's scraper timeout (httpClientTimeout). */
export const SCRAPE_TIMEOUT_MS = 3_000
/** The pod name on scraped stats (Knative's scraperPodName). */
export const SCRAPER_POD_NAME = 'service-scraper'
/** Largest metrics body read; a Stat is < 200 bytes, the JSON form a few KiB. */
const MAX_BODY_BYTES = 256 * 1024

/** One ready pod to scrape. */
export interface ScrapePod {
  readonly name: string
  /** `host:port` of the sidecar's metrics endpoint. */
  readonly metricsAddress: string
  /** When the pod started, on the scraper's clock (ms); pods younger than the window are used last. */
  readonly startedAtMs: number
}

/** Fetches one pod's Stat; throws on failure. HttpStatFetcher in production, a stub in tests. */
export interface StatFetcher {
  fetchStat (pod: ScrapePod): Promise<Stat>
}

export type ScrapeOutcome =
  | { readonly kind: 'stat', readonly stat: Stat, readonly scraped: number }
  /** No ready pods: nothing to record (Knative's emptyStat). */
  | { readonly kind: 'empty' }
  /** Too many pods failed for a meaningful average: nothing recorded this second. */
  | { readonly kind: 'failed', readonly error: unknown, readonly scraped: number }

// X = 1.96^2 x 100 / 5^2: the sample size for a 95% confidence, margin of error 5, variance 100.
const SAMPLE_SIZE_X = 1.96 * 1.96 * 100 / (5 * 5)

/** Knative's populationMeanSampleSize: N up to 3, else ceil(N x X / (N + X - 1)). */
export function populationMeanSampleSize (population: number): number {
  if (population <= 3) return Math.max(population, 0)
  return Math.ceil(population * SAMPLE_SIZE_X / (population + SAMPLE_SIZE_X - 1))
}

function shuffle<T> (items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const tmp = items[i]
    items[i] = items[j]
    items[j] = tmp
  }
}

export interface ScraperOptions {
  readonly fetcher: StatFetcher
  readonly clock?: Clock
  readonly random?: () => number
  readonly logger?: Logger | null
}

export class Scraper {
  readonly #fetcher: StatFetcher
  readonly #clock: Clock
  readonly #random: () => number
  readonly #logger: Logger | null

  constructor (options: ScraperOptions) {
    this.#fetcher = options.fetcher
    this.#clock = options.clock ?? realClock
    this.#random = options.random ?? Math.random
    this.#logger = options.logger ?? null
  }

  /** One scrape of `pods`; `stableWindowMs` separates old pods from young ones. */
  async scrape (pods: readonly ScrapePod[], stableWindowMs: number): Promise<ScrapeOutcome> {
    const nowMs = this.#clock.nowMs()
    const old: ScrapePod[] = []
    const young: ScrapePod[] = []
    for (const p of pods) (nowMs - p.startedAtMs >= stableWindowMs ? old : young).push(p)
    const total = old.length + young.length
    if (total === 0) return { kind: 'empty' }
    const sampleSize = populationMeanSampleSize(total)
    // Not enough old pods: all of them are used, so shuffle the young ones that fill up;
    // otherwise pick a random sample of the old ones (young ones stay as a backup).
    if (old.length < sampleSize) shuffle(young, this.#random)
    else shuffle(old, this.#random)
    const order = old.concat(young)

    let next = 0
    let lastError: unknown = null
    const results: Stat[] = []
    const worker = async (): Promise<boolean> => {
      while (next < order.length) {
        const pod = order[next++]
        try {
          results.push(await this.#fetcher.fetchStat(pod))
          return true
        } catch (err) {
          lastError = err
          this.#logger?.debug({ err, pod: pod.name }, 'scrape failed')
        }
      }
      return false
    }
    const workers: Array<Promise<boolean>> = []
    for (let i = 0; i < sampleSize; i++) workers.push(worker())
    const ok = await Promise.all(workers)
    if (ok.includes(false)) return { kind: 'failed', error: lastError, scraped: results.length }

    const stat: Stat = emptyStat(SCRAPER_POD_NAME)
    for (const s of results) {
      stat.averageConcurrentRequests += s.averageConcurrentRequests
      stat.averageProxiedConcurrentRequests += s.averageProxiedConcurrentRequests
      stat.requestCount += s.requestCount
      stat.proxiedRequestCount += s.proxiedRequestCount
    }
    // The sample stands for the whole population (Knative's Stat.average).
    const scale = total / sampleSize
    stat.averageConcurrentRequests *= scale
    stat.averageProxiedConcurrentRequests *= scale
    stat.requestCount *= scale
    stat.proxiedRequestCount *= scale
    return { kind: 'stat', stat, scraped: results.length }
  }
}

interface StatsJsonEntry {
  podName?: unknown
  averageConcurrentRequests?: unknown
  averageProxiedConcurrentRequests?: unknown
  requestCount?: unknown
  proxiedRequestCount?: unknown
  processUptime?: unknown
  timestamp?: unknown
}

function num (v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0
}

/** Parses the sidecar's JSON metrics body (`{"stats":[{...}]}`, first entry). */
export function statFromMetricsJson (text: string): Stat {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new StatDecodeError('metrics body is not JSON', { cause: err })
  }
  const stats = typeof doc === 'object' && doc !== null && 'stats' in doc ? doc.stats : null
  if (!Array.isArray(stats) || stats.length === 0) throw new StatDecodeError('metrics JSON has no stats')
  const e: StatsJsonEntry = typeof stats[0] === 'object' && stats[0] !== null ? stats[0] : {}
  return {
    podName: typeof e.podName === 'string' ? e.podName : '',
    averageConcurrentRequests: num(e.averageConcurrentRequests),
    averageProxiedConcurrentRequests: num(e.averageProxiedConcurrentRequests),
    requestCount: num(e.requestCount),
    proxiedRequestCount: num(e.proxiedRequestCount),
    processUptime: num(e.processUptime),
    timestamp: num(e.timestamp),
  }
}

/** GET http://<metricsAddress>/metrics with keep-alive, like Knative's direct pod scraping. */
export class HttpStatFetcher implements StatFetcher {
  readonly #agent: Agent
  readonly #timeoutMs: number

  constructor (timeoutMs = SCRAPE_TIMEOUT_MS) {
    this.#timeoutMs = timeoutMs
    this.#agent = new Agent({ connections: 2, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connect: { timeout: timeoutMs } })
  }

  async fetchStat (pod: ScrapePod): Promise<Stat> {
    const res = await request(`http://${pod.metricsAddress}/metrics`, {
      dispatcher: this.#agent,
      headers: { accept: 'application/protobuf, application/json;q=0.5' },
      signal: AbortSignal.timeout(this.#timeoutMs),
    })
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res.body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)
      size += buf.length
      if (size > MAX_BODY_BYTES) {
        res.body.destroy()
        throw new StatDecodeError('metrics body too large')
      }
      chunks.push(buf)
    }
    if (res.statusCode !== 200) throw new StatDecodeError(`metrics endpoint answered ${res.statusCode}`)
    const body = Buffer.concat(chunks)
    const type = String(res.headers['content-type'] ?? '')
    if (type.startsWith('application/protobuf')) return decodeStat(body)
    if (type.startsWith('application/json')) return statFromMetricsJson(body.toString('utf8'))
    throw new StatDecodeError(`unexpected metrics content type ${JSON.stringify(type)}`)
  }

  close (): Promise<void> {
    return this.#agent.close()
  }
}
