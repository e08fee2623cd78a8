import t from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { HttpStatFetcher, populationMeanSampleSize, Scraper, SCRAPER_POD_NAME, type ScrapePod, type StatFetcher } from '../../src/autoscaler/scraper.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { encodeStat } from '../../src/stats/stat-proto.ts'
import type { Stat } from '../../src/stats/stat.ts'

function stat (over: Partial<Stat> = {}): Stat {
  return { podName: 'p', averageConcurrentRequests: 0, averageProxiedConcurrentRequests: 0, requestCount: 0, proxiedRequestCount: 0, processUptime: 0, timestamp: 0, ...over }
}

function pods (n: number, startedAtMs = 0): ScrapePod[] {
  return Array.from({ length: n }, (_, i) => ({ name: `pod-${i}`, metricsAddress: `127.0.0.1:${i}`, startedAtMs }))
}

t.test('sample size follows Knative (N <= 3: all; else ceil(N*X/(N+X-1)))', async (t) => {
  // Values from Knative's sample_size_test.go.
  const table: Array<[number, number]> = [[0, 0], [1, 1], [2, 2], [3, 3], [5, 4], [10, 7], [100, 14], [1000, 16]]
  for (const [n, want] of table) t.equal(populationMeanSampleSize(n), want, `N=${n}`)
})

t.test('sums a sample and scales it to the population; proxied parts kept for the collector', async (t) => {
  const fetcher: StatFetcher = { fetchStat: async (p) => stat({ podName: p.name, averageConcurrentRequests: 2, averageProxiedConcurrentRequests: 0.5, requestCount: 10, proxiedRequestCount: 4 }) }
  const scraper = new Scraper({ fetcher, clock: new ManualClock(100_000) })
  const out = await scraper.scrape(pods(100), 60_000)
  t.equal(out.kind, 'stat')
  if (out.kind !== 'stat') return
  t.equal(out.scraped, 14, 'sample of 14 out of 100')
  t.equal(out.stat.podName, SCRAPER_POD_NAME)
  t.equal(out.stat.averageConcurrentRequests, 200)
  t.equal(out.stat.averageProxiedConcurrentRequests, 50)
  t.equal(out.stat.requestCount, 1000)
  t.equal(out.stat.proxiedRequestCount, 400)
})

t.test('no pods: empty (nothing recorded)', async (t) => {
  const scraper = new Scraper({ fetcher: { fetchStat: async () => stat() } })
  t.same(await scraper.scrape([], 60_000), { kind: 'empty' })
})

t.test('old pods are preferred; young ones stand in for failures', async (t) => {
  const clock = new ManualClock(100_000)
  const asked: string[] = []
  const fetcher: StatFetcher = {
    fetchStat: async (p) => {
      asked.push(p.name)
      if (p.name === 'old-0') throw new Error('down')
      return stat({ podName: p.name, averageConcurrentRequests: 1 })
    },
  }
  const list: ScrapePod[] = [
    ...Array.from({ length: 20 }, (_, i) => ({ name: `old-${i}`, metricsAddress: 'x', startedAtMs: 0 })),
    ...Array.from({ length: 5 }, (_, i) => ({ name: `young-${i}`, metricsAddress: 'x', startedAtMs: 99_000 })),
  ]
  const out = await new Scraper({ fetcher, clock, random: () => 0 }).scrape(list, 60_000)
  t.equal(out.kind, 'stat')
  t.ok(asked.slice(0, populationMeanSampleSize(25)).every((n) => n.startsWith('old-')), 'first picks are old pods')
})

t.test('too many failures: no stat this round', async (t) => {
  const scraper = new Scraper({ fetcher: { fetchStat: async () => { throw new Error('refused') } } })
  const out = await scraper.scrape(pods(2), 60_000)
  t.equal(out.kind, 'failed')
})

t.test('HttpStatFetcher reads protobuf and JSON metrics bodies over HTTP, with Knative\'s Accept header', async (t) => {
  let mode: 'protobuf' | 'json' | 'text' | '500' = 'protobuf'
  let accept = ''
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    accept = req.headers.accept ?? ''
    if (mode === 'protobuf') {
      res.writeHead(200, { 'content-type': 'application/protobuf' })
      res.end(encodeStat(stat({ podName: 'pb', averageConcurrentRequests: 1.5, requestCount: 3 })))
    } else if (mode === 'json') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
      res.end(JSON.stringify({ stats: [{ podName: 'js', averageConcurrentRequests: 2.5, requestCount: 4, processUptime: 9 }], proxy: null }))
    } else if (mode === 'text') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('# prometheus')
    } else {
      res.writeHead(500)
      res.end()
    }
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const fetcher = new HttpStatFetcher(1_000)
  t.teardown(async () => { await fetcher.close(); server.closeAllConnections(); server.close() })
  const pod: ScrapePod = { name: 'x', metricsAddress: `127.0.0.1:${(server.address() as AddressInfo).port}`, startedAtMs: 0 }
  const pb = await fetcher.fetchStat(pod)
  t.match(accept, /application\/protobuf/)
  t.equal(pb.podName, 'pb')
  t.equal(pb.averageConcurrentRequests, 1.5)
  mode = 'json'
  const js = await fetcher.fetchStat(pod)
  t.equal(js.podName, 'js')
  t.equal(js.processUptime, 9)
  mode = 'text'
  await t.rejects(fetcher.fetchStat(pod), { code: 'SLUICE_ERR_STATS_DECODE' })
  mode = '500'
  await t.rejects(fetcher.fetchStat(pod), { code: 'SLUICE_ERR_STATS_DECODE' })
})
