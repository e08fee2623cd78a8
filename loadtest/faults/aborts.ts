// Scenario 1: 100,000 requests, 20% of them abandoned by their client at a random point (queued for a
// slot, mid-upload, mid-response). Pass: afterwards the proxy reports 0 requests in flight and 0 queued,
// CC concurrent slow requests all get through at once (no slot leaked), and RSS is back within 10% of
// its idle value. Idle is read twice: after start plus 5,000 requests (JIT, pools), and after a control
// run of the same 100,000 requests, same mix (20% slow, 64 KB uploads, 256 KB responses), none aborted.
// The pass condition is against the second: V8 keeps the heap it grew under load when the load stops,
// so RSS after any heavy load sits above the start-up idle, aborts or not; what aborts must not do is
// add to it. The abort run is then repeated: a leak grows again with the second run.

import { runAborts } from './abort-client.ts'
import { httpCall } from '../harness/targets.ts'
import { pollUntil, round2, rssKb, ScenarioRecorder, sleep, startStack, stopStack } from './fault-kit.ts'
import type { FaultContext, ScenarioResult, TargetKind } from './fault-kit.ts'

const REQUESTS = 100_000
const WORKERS = 64
const ABORT_SHARE = 0.2
const CC = 10
const RSS_SETTLE_MS = 60_000

export async function runAbortsScenario (ctx: FaultContext, kind: TargetKind): Promise<ScenarioResult> {
  const rec = new ScenarioRecorder('aborts', kind)
  const stack = await startStack(ctx, kind)
  rec.commands.push(...stack.commands)
  try {
    const { front } = stack
    await runAborts({ port: front.port, headerLines: front.headerLines, requests: 5_000, workers: WORKERS, abortShare: 0 })
    await sleep(2_000)
    const startIdleKb = rssKb(front.pid)
    const same = await runAborts({ port: front.port, headerLines: front.headerLines, requests: REQUESTS, workers: WORKERS, abortShare: ABORT_SHARE, complete: true })
    await sleep(5_000)
    const idleKb = rssKb(front.pid)
    rec.figures.sameLoadNoAbortReqPerSec = round2(same.requests / same.durationS)
    ctx.log(`  ${kind}: idle RSS ${(startIdleKb / 1024).toFixed(1)} MB after start, ${(idleKb / 1024).toFixed(1)} MB after the same load without aborts; ${REQUESTS} requests, ${WORKERS} workers, ${ABORT_SHARE * 100}% abort`)
    const r = await runAborts({ port: front.port, headerLines: front.headerLines, requests: REQUESTS, workers: WORKERS, abortShare: ABORT_SHARE })
    const peakKb = rssKb(front.pid)
    await sleep(5_000)
    const afterFirstKb = rssKb(front.pid)
    const r2 = await runAborts({ port: front.port, headerLines: front.headerLines, requests: REQUESTS, workers: WORKERS, abortShare: ABORT_SHARE })
    await sleep(5_000)
    const afterSecondKb = rssKb(front.pid)
    rec.commands.push(`loadtest/faults/abort-client.ts: a control run of ${REQUESTS} requests with the same mix and no abort, then twice ${REQUESTS} requests, ${WORKERS} closed-loop workers (CC ${CC}), ${ABORT_SHARE * 100}% aborted (queued: GET /slow?ms=20 closed after 0-15 ms; upload: POST of 64 KB closed after 0-64 KB; response: GET /big (256 KB) closed after 1-200,000 bytes); normal: GET / and GET /slow?ms=3 on keep-alive`)
    ctx.log(`  ${kind}: RSS ${(afterFirstKb / 1024).toFixed(1)} MB after the first abort run, ${(afterSecondKb / 1024).toFixed(1)} MB after the second`)
    ctx.log(`  ${kind}: ${r.completed} completed, ${r.errors} errors, ${r.hangs} hangs, aborted ${JSON.stringify(r.aborted)}, ${(r.requests / r.durationS).toFixed(0)} req/s`)
    // The activator's gauges are rebuilt once a second.
    const gauges = await pollUntil(async () => await front.gauges(), (g) => g.inFlight === 0 && g.queued === 0, 10_000, 500)
    // No slot leaked: CC requests that each hold a slot 300 ms all finish within one such hold (+ margin).
    const t = performance.now()
    const probes = await Promise.all(Array.from({ length: CC }, async () => await httpCall('GET', front.port, '/slow?ms=300', null, front.headers, 5000)))
    const slotsMs = performance.now() - t
    const rss = await pollUntil(() => rssKb(front.pid), (kb) => kb <= idleKb * 1.1, RSS_SETTLE_MS, 1000)
    Object.assign(rec.figures, {
      requests: r.requests + r2.requests, completed: r.completed + r2.completed, rssAfterFirstAbortRunMb: round2(afterFirstKb / 1024), rssAfterSecondAbortRunMb: round2(afterSecondKb / 1024), abortedQueued: r.aborted.queued + r2.aborted.queued, abortedUpload: r.aborted.upload + r2.aborted.upload, abortedResponse: r.aborted.response + r2.aborted.response,
      non2xx: JSON.stringify(r.non2xx), non2xxSecondRun: JSON.stringify(r2.non2xx), errors: r.errors + r2.errors, hangs: r.hangs + r2.hangs, reqPerSec: round2(r.requests / r.durationS), loadDurationS: round2(r.durationS),
      inFlightAfter: gauges.value.inFlight, queuedAfter: gauges.value.queued, ccSlowRequestsMs: round2(slotsMs),
      startIdleRssMb: round2(startIdleKb / 1024), idleRssMb: round2(idleKb / 1024), rssAfterLoadMb: round2(peakKb / 1024), rssSettledMb: round2(rss.value / 1024), rssSettleS: rss.afterMs === null ? null : round2(rss.afterMs / 1000),
    })
    rec.check('no request left in flight', gauges.value.inFlight === 0, '0', String(gauges.value.inFlight))
    rec.check('no stuck queue entry', gauges.value.queued === 0, '0', String(gauges.value.queued))
    rec.check(`${CC} concurrent 300 ms requests all 200 within 1 s (no leaked slot)`, probes.every((p) => p.status === 200) && slotsMs < 1000, '< 1000 ms, all 200', `${slotsMs.toFixed(0)} ms, statuses ${probes.map((p) => p.status).join(',')}`)
    rec.check('normal requests neither failed nor hung', r.errors + r2.errors === 0 && r.hangs + r2.hangs === 0, '0 / 0', `${r.errors + r2.errors} / ${r.hangs + r2.hangs}`)
    rec.check('a second abort run adds < 5% RSS (no leak per abort)', afterSecondKb <= afterFirstKb * 1.05, `<= ${(afterFirstKb * 1.05 / 1024).toFixed(1)} MB`, `${(afterSecondKb / 1024).toFixed(1)} MB (after the first: ${(afterFirstKb / 1024).toFixed(1)})`)
    rec.check('RSS back within 10% of idle (after the same load without aborts)', rss.afterMs !== null, `<= ${(idleKb * 1.1 / 1024).toFixed(1)} MB within ${RSS_SETTLE_MS / 1000} s`, `${(rss.value / 1024).toFixed(1)} MB`)
    return rec.finish()
  } finally {
    await stopStack(ctx, stack)
  }
}
