import t from 'tap'
import { createClient, delayed, route, send, sleep, spec, startActivator, startApp, startSidecar, until, type Reply } from './fixtures.ts'

// Acceptance: a revision with 0 endpoints; 1,000 requests arrive over 1 s; an endpoint (a real Sluice
// sidecar in front of an app) is added 2 s after the first request -> all 1,000 succeed and the
// endpoint never sees more than CC requests in flight.
const CC = 10
const REQUESTS = 1_000
const SPREAD_MS = 1_000
const ENDPOINT_AFTER_MS = 2_000

t.test('scale from zero: 1,000 buffered requests all succeed, endpoint never above CC', async (t) => {
  const { activator, url, ports } = await startActivator(t)
  activator.registry.upsert(spec('cold', [], CC))
  let sidecarPeak = 0
  let sidecarQueued = 0
  let sidecarRef: { handler: { active: number }, breaker: { queued: number } | null } | null = null
  const app = await startApp(t, delayed(2), () => {
    if (sidecarRef === null) return
    if (sidecarRef.handler.active > sidecarPeak) sidecarPeak = sidecarRef.handler.active
    if (sidecarRef.breaker !== null && sidecarRef.breaker.queued > sidecarQueued) sidecarQueued = sidecarRef.breaker.queued
  })
  const { sidecar, dest } = await startSidecar(t, app.port, CC)
  sidecarRef = sidecar
  const client = createClient(t)

  const start = performance.now()
  const replies: Array<Promise<Reply>> = []
  const perTick = 10
  for (let sent = 0; sent < REQUESTS; sent += perTick) {
    for (let i = 0; i < perTick; i++) replies.push(send(client, url, { path: `/r${sent + i}`, headers: route('cold') }))
    await sleep(SPREAD_MS / (REQUESTS / perTick))
  }
  const spreadMs = performance.now() - start
  const revision = activator.registry.lookup('default', 'cold')
  // The last requests written may still be in flight to the activator on a loaded machine.
  await until(() => revision?.throttler.queued === REQUESTS, ENDPOINT_AFTER_MS - spreadMs > 200 ? ENDPOINT_AFTER_MS - spreadMs - 100 : 100, 'all requests buffered').catch(() => {})
  t.equal(revision?.throttler.queued, REQUESTS, 'all buffered while the revision has no endpoint')
  await sleep(Math.max(0, ENDPOINT_AFTER_MS - (performance.now() - start)))
  activator.registry.upsert(spec('cold', [dest], CC))
  const settled = await Promise.all(replies)
  const totalMs = performance.now() - start

  const statuses = new Map<number, number>()
  for (const r of settled) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
  t.same([...statuses], [[200, REQUESTS]], 'all 1,000 succeeded')
  const tracker = revision === undefined ? undefined : [...revision.trackers()][0]
  t.ok(tracker !== undefined && tracker.maxInFlight <= CC, `activator never had more than CC=${CC} in flight to the endpoint (peak ${tracker?.maxInFlight})`)
  t.equal(tracker?.maxInFlight, CC, 'and it used the full CC')
  t.ok(sidecarPeak <= CC, `the sidecar never held more than CC (peak ${sidecarPeak})`)
  t.equal(sidecarQueued, 0, 'nothing ever queued in the sidecar')
  t.ok(app.maxInFlight <= CC, `app peak ${app.maxInFlight}`)
  t.equal(app.requests, REQUESTS)
  t.equal(revision?.proxy.coldStarts.count, 1, 'one cold start recorded')
  t.comment(`spread ${spreadMs.toFixed(0)} ms, total ${totalMs.toFixed(0)} ms, ready->first forward ${revision?.proxy.lastReadyToForwardMs.toFixed(2)} ms, cold start ${((revision?.proxy.coldStarts.sum ?? 0) * 1000).toFixed(0)} ms`)

  activator.reporter.report()
  const metrics = await send(client, `http://127.0.0.1:${ports.metrics}`, { path: '/metrics' })
  t.match(metrics.body, /sluice_activator_cold_start_seconds_count\{namespace="default",revision="cold"\} 1/)
  // The cold start's instants, as Unix times, in causal order (sluice up lines them up with its pods).
  const c = revision?.proxy.lastColdStart
  const instants = [c?.requestWallMs, c?.endpointReadyWallMs, c?.forwardedWallMs, c?.firstByteWallMs]
  t.ok(instants.every((ms) => typeof ms === 'number' && ms > 1_600_000_000_000), `all four recorded: ${JSON.stringify(instants)}`)
  t.ok(instants.every((ms, i) => i === 0 || (ms ?? 0) >= (instants[i - 1] ?? Infinity)), 'request <= endpoint ready <= forwarded <= first byte')
  for (const event of ['request', 'endpoint_ready', 'forwarded', 'first_byte']) {
    t.match(metrics.body, new RegExp(`sluice_activator_last_cold_start_timestamp_seconds\\{namespace="default",revision="cold",event="${event}"\\} \\d{10}(\\.\\d+)?\\n`), `metric for ${event}`)
  }
})
