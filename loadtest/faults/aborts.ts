// Scenario 1: 100,000 requests, 20% of them abandoned by their client at a random point (queued for a
// slot, mid-upload, mid-response), run twice. Pass: afterwards the proxy reports 0 requests in flight and
// 0 queued, CC concurrent slow requests all get through at once (no slot leaked), no normal request
// failed or hung, the live V8 heap after a full GC is back within 10% of its value after a control run
// (the same 100,000-request mix, none aborted), and RSS after that GC is within 10% of the idle RSS
// (after start and a 5,000-request warm-up).
//
// The full GC is forced over the inspector (SIGUSR1 on a process started with --inspect-port, then
// HeapProfiler.collectGarbage): a leak's objects survive it. Before it, RSS is polled for up to 75 s:
// Node itself keeps the heap a burst grew for as long as the process stays idle, and Sluice's idle
// reclaimer (src/server/idle-reclaimer.ts) gives it back 60-65 s after the last request.

import { runAborts } from './abort-client.ts'
import { freePort, HOST, httpCall } from '../harness/targets.ts'
import { HeapReader, pollUntil, round2, rssKb, ScenarioRecorder, sleep, startStack, stopStack } from './fault-kit.ts'
import type { FaultContext, ScenarioResult, TargetKind } from './fault-kit.ts'

const REQUESTS = 100_000
const WORKERS = 64
const ABORT_SHARE = 0.2
const CC = 10
/** Sluice's idle reclaimer (--idle-reclaim-seconds, 60) collects 60-65 s after the last request. */
const RSS_SETTLE_MS = 75_000

export async function runAbortsScenario (ctx: FaultContext, kind: TargetKind): Promise<ScenarioResult> {
  const rec = new ScenarioRecorder('aborts', kind)
  const inspectPort = await freePort()
  const stack = await startStack(ctx, kind, { frontNodeArgs: [`--inspect-port=${HOST}:${inspectPort}`] })
  rec.commands.push(...stack.commands)
  const heap = new HeapReader(stack.front.pid, inspectPort)
  try {
    const { front } = stack
    await runAborts({ port: front.port, headerLines: front.headerLines, requests: 5_000, workers: WORKERS, abortShare: 0 })
    await sleep(2_000)
    const startIdleKb = rssKb(front.pid)
    const heapStartMb = await heap.usedAfterGcMb()
    const same = await runAborts({ port: front.port, headerLines: front.headerLines, requests: REQUESTS, workers: WORKERS, abortShare: ABORT_SHARE, complete: true })
    await sleep(5_000)
    const idleKb = rssKb(front.pid)
    const heapControlMb = await heap.usedAfterGcMb()
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
    // Without help V8 keeps the heap it grew (figure only); after a full GC what is left is what is live.
    const rss = await pollUntil(() => rssKb(front.pid), (kb) => kb <= startIdleKb * 1.1, RSS_SETTLE_MS, 1000)
    const heapAfterMb = await heap.usedAfterGcMb()
    await sleep(2_000)
    const afterGcKb = rssKb(front.pid)
    Object.assign(rec.figures, {
      requests: r.requests + r2.requests, completed: r.completed + r2.completed, rssAfterFirstAbortRunMb: round2(afterFirstKb / 1024), rssAfterSecondAbortRunMb: round2(afterSecondKb / 1024), abortedQueued: r.aborted.queued + r2.aborted.queued, abortedUpload: r.aborted.upload + r2.aborted.upload, abortedResponse: r.aborted.response + r2.aborted.response,
      non2xx: JSON.stringify(r.non2xx), non2xxSecondRun: JSON.stringify(r2.non2xx), errors: r.errors + r2.errors, hangs: r.hangs + r2.hangs, reqPerSec: round2(r.requests / r.durationS), loadDurationS: round2(r.durationS),
      inFlightAfter: gauges.value.inFlight, queuedAfter: gauges.value.queued, ccSlowRequestsMs: round2(slotsMs),
      startIdleRssMb: round2(startIdleKb / 1024), controlIdleRssMb: round2(idleKb / 1024), rssAfterLoadMb: round2(peakKb / 1024), rssSettledNoGcMb: round2(rss.value / 1024), rssSettleNoGcS: rss.afterMs === null ? null : round2(rss.afterMs / 1000), rssAfterFullGcMb: round2(afterGcKb / 1024),
    })
    rec.check('no request left in flight', gauges.value.inFlight === 0, '0', String(gauges.value.inFlight))
    rec.check('no stuck queue entry', gauges.value.queued === 0, '0', String(gauges.value.queued))
    rec.check(`${CC} concurrent 300 ms requests all 200 within 1 s (no leaked slot)`, probes.every((p) => p.status === 200) && slotsMs < 1000, '< 1000 ms, all 200', `${slotsMs.toFixed(0)} ms, statuses ${probes.map((p) => p.status).join(',')}`)
    rec.check('normal requests neither failed nor hung', r.errors + r2.errors === 0 && r.hangs + r2.hangs === 0, '0 / 0', `${r.errors + r2.errors} / ${r.hangs + r2.hangs}`)
    rec.figures.heapAfterGcStartMb = round2(heapStartMb)
    rec.figures.heapAfterGcControlMb = round2(heapControlMb)
    rec.figures.heapAfterGcAfterAbortsMb = round2(heapAfterMb)
    rec.check('live heap after a full GC back within 10% of its value after the control run (no leaked objects)', heapAfterMb <= heapControlMb * 1.1, `<= ${(heapControlMb * 1.1).toFixed(1)} MB`, `${heapAfterMb.toFixed(1)} MB (start ${heapStartMb.toFixed(1)}, control ${heapControlMb.toFixed(1)})`)
    rec.check('RSS back within 10% of idle (start, after warm-up) after a full GC', afterGcKb <= startIdleKb * 1.1, `<= ${(startIdleKb * 1.1 / 1024).toFixed(1)} MB`, `${(afterGcKb / 1024).toFixed(1)} MB (without a forced GC: ${(rss.value / 1024).toFixed(1)} MB ${rss.afterMs === null ? `after ${RSS_SETTLE_MS / 1000} s` : `${(rss.afterMs / 1000).toFixed(0)} s after the load`})`)
    return rec.finish()
  } finally {
    heap.close()
    await stopStack(ctx, stack)
  }
}
