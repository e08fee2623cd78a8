// Cold starts through the activator's admin API (issue 5: "endpoint probe success -> first buffered
// request forwarded <= 25 ms"). One repeat:
//
//   PUT the revision with no endpoints      -> requests for it buffer (no ready endpoint)
//   send `buffered` requests, one connection each, and wait until all are written (+ a short settle)
//   PUT the endpoints                       -> the activator probes them (GET /healthz, K-Network-Probe),
//                                              the first success opens capacity and the queue drains
//   wait for every response, then for the next /metrics refresh (1 s period)
//
// Measured on both sides:
// - the activator's own figures from /metrics: `sluice_activator_last_ready_to_forward_seconds` (first
//   endpoint ready = probe success -> first buffered request forwarded; the figure) and the
//   increase of `sluice_activator_cold_start_seconds_sum` (first request buffered -> first forwarded,
//   which includes the settle time the bench waited before adding endpoints);
// - the client's: PUT sent -> first response head (admin API + probe + forward + upstream), PUT answered
//   -> first response, and PUT sent -> last response.

import { request } from 'node:http'
import type { RunningActivator } from './targets.ts'
import { HOST, httpCall } from './targets.ts'

export interface ColdStartSpec {
  readonly activator: RunningActivator
  readonly namespace: string
  readonly name: string
  readonly endpoints: readonly string[]
  readonly containerConcurrency: number
  /** Requests buffered per cold start (each on its own connection). */
  readonly buffered: number
  readonly repeats: number
  /** Wait after the buffered requests were written, before the endpoints are added. */
  readonly settleMs: number
}

export interface ColdStartSample {
  readonly repeat: number
  readonly buffered: number
  readonly ok: number
  /** Activator: probe success -> first buffered request forwarded (last_ready_to_forward gauge), ms. */
  readonly readyToForwardMs: number
  /** Activator: first request buffered -> first buffered request forwarded (histogram sum delta), ms. */
  readonly coldStartMs: number
  /** Client: PUT of the endpoints sent -> first response head, ms. */
  readonly putToFirstResponseMs: number
  /** Client: PUT answered -> first response head, ms. */
  readonly putDoneToFirstResponseMs: number
  /** Client: PUT sent -> last response complete, ms. */
  readonly putToAllResponsesMs: number
}

const METRICS_WAIT_MS = 3_000
const RESPONSE_WAIT_MS = 10_000

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** The value of one sample line `name{labels} value` of a Prometheus text page; NaN when absent. */
export function sampleValue (page: string, name: string, labels: string): number {
  const prefix = `${name}{${labels}} `
  for (const line of page.split('\n')) {
    if (line.startsWith(prefix)) return Number(line.slice(prefix.length))
  }
  return Number.NaN
}

interface Pending {
  /** Written to the socket (request finished sending). */
  readonly written: Promise<void>
  /** Resolves with [head time, end time, status] (performance.now() ms); status 0 on error. */
  readonly done: Promise<[number, number, number]>
}

function bufferedRequest (port: number, headers: Readonly<Record<string, string>>, onHead: (nowMs: number) => void): Pending {
  let markWritten = (): void => {}
  const written = new Promise<void>((resolve) => { markWritten = resolve })
  const done = new Promise<[number, number, number]>((resolve) => {
    const req = request({ host: HOST, port, path: '/', agent: false, timeout: RESPONSE_WAIT_MS, headers }, (res) => {
      const head = performance.now()
      onHead(head)
      res.resume()
      res.on('end', () => { resolve([head, performance.now(), res.statusCode ?? 0]) })
      res.on('error', () => { resolve([head, performance.now(), 0]) })
    })
    req.on('finish', markWritten)
    req.on('error', () => { markWritten(); resolve([Number.NaN, performance.now(), 0]) })
    req.on('timeout', () => { req.destroy() })
    req.end()
  })
  return { written, done }
}

async function putRevision (spec: ColdStartSpec, endpoints: readonly string[]): Promise<void> {
  const body = JSON.stringify({ containerConcurrency: spec.containerConcurrency, endpoints })
  const r = await httpCall('PUT', spec.activator.adminPort, `/revisions/${spec.namespace}/${spec.name}`, body)
  if (r.status !== 200) throw new Error(`loadtest: PUT /revisions/${spec.namespace}/${spec.name} answered ${r.status}: ${r.body.trim()}`)
}

async function scrape (spec: ColdStartSpec): Promise<string> {
  const r = await httpCall('GET', spec.activator.metricsPort, '/metrics', null)
  if (r.status !== 200) throw new Error(`loadtest: GET /metrics answered ${r.status}`)
  return r.body
}

export async function runColdStarts (spec: ColdStartSpec, onSample: (s: ColdStartSample) => void = () => {}): Promise<ColdStartSample[]> {
  const labels = `namespace="${spec.namespace}",revision="${spec.name}"`
  const routing = { 'knative-serving-namespace': spec.namespace, 'knative-serving-revision': spec.name }
  const samples: ColdStartSample[] = []
  await putRevision(spec, [])
  for (let repeat = 1; repeat <= spec.repeats; repeat++) {
    // Metrics are rebuilt once a second: wait for a page that has this revision, and remember its count.
    let before = await scrape(spec)
    for (let waited = 0; Number.isNaN(sampleValue(before, 'sluice_activator_cold_start_seconds_count', labels)) && waited < METRICS_WAIT_MS; waited += 100) {
      await sleep(100)
      before = await scrape(spec)
    }
    const countBefore = sampleValue(before, 'sluice_activator_cold_start_seconds_count', labels)
    const sumBefore = sampleValue(before, 'sluice_activator_cold_start_seconds_sum', labels)
    if (Number.isNaN(countBefore)) throw new Error(`loadtest: /metrics has no cold-start histogram for ${spec.namespace}/${spec.name}`)

    let firstHeadMs = Number.NaN
    const onHead = (nowMs: number): void => { if (Number.isNaN(firstHeadMs)) firstHeadMs = nowMs }
    const pending: Pending[] = []
    for (let i = 0; i < spec.buffered; i++) pending.push(bufferedRequest(spec.activator.port, routing, onHead))
    await Promise.all(pending.map((p) => p.written))
    await sleep(spec.settleMs)
    if (!Number.isNaN(firstHeadMs)) throw new Error('loadtest: a request was answered before the revision had endpoints (not buffered)')

    const putStart = performance.now()
    await putRevision(spec, spec.endpoints)
    const putDone = performance.now()
    const results = await Promise.all(pending.map((p) => p.done))
    const lastEnd = Math.max(...results.map((r) => r[1]))
    const ok = results.filter((r) => r[2] === 200).length

    let after = await scrape(spec)
    for (let waited = 0; sampleValue(after, 'sluice_activator_cold_start_seconds_count', labels) === countBefore && waited < METRICS_WAIT_MS; waited += 100) {
      await sleep(100)
      after = await scrape(spec)
    }
    const countAfter = sampleValue(after, 'sluice_activator_cold_start_seconds_count', labels)
    const sample: ColdStartSample = {
      repeat,
      buffered: spec.buffered,
      ok,
      readyToForwardMs: countAfter === countBefore + 1 ? sampleValue(after, 'sluice_activator_last_ready_to_forward_seconds', labels) * 1000 : Number.NaN,
      coldStartMs: countAfter === countBefore + 1 ? (sampleValue(after, 'sluice_activator_cold_start_seconds_sum', labels) - sumBefore) * 1000 : Number.NaN,
      putToFirstResponseMs: firstHeadMs - putStart,
      putDoneToFirstResponseMs: firstHeadMs - putDone,
      putToAllResponsesMs: lastEnd - putStart,
    }
    samples.push(sample)
    onSample(sample)
    // Back to zero endpoints for the next repeat (no request is in flight now).
    await putRevision(spec, [])
  }
  return samples
}
