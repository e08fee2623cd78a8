// Scenario 7: a soak at 1,000 req/s (paced, open loop, 50 keep-alive connections) through the activator
// and the sidecar behind it (client -> activator -> sidecar -> app), for --soak-minutes (10 by default).
// RSS and open fds of both Sluice processes are sampled every SAMPLE_MS. The reference sample is taken
// once warm (after the first minute, or a fifth of a shorter soak), the last at the end of the load.
// Pass: no failed request, RSS growth < 10% and no fd growth in each process.

import { runPaced } from '../harness/paced-runner.ts'
import { HOST } from '../harness/targets.ts'
import { fdCount, round2, rssKb, ScenarioRecorder, sleep, startStack, stopStack } from './fault-kit.ts'
import type { FaultContext, ScenarioResult, TargetKind } from './fault-kit.ts'

const RATE = 1000
const SAMPLE_MS = 10_000

interface Sample { atS: number, activatorRssKb: number, sidecarRssKb: number, activatorFds: number, sidecarFds: number }

export async function runSoakScenario (ctx: FaultContext, kind: TargetKind): Promise<ScenarioResult> {
  const rec = new ScenarioRecorder('soak', kind)
  const stack = await startStack(ctx, 'activator')
  rec.commands.push(...stack.commands)
  try {
    const durationS = Math.round(ctx.soakMinutes * 60)
    const warmS = Math.min(60, durationS / 5)
    const a = stack.front.pid
    const s = stack.sidecar.child.pid
    const samples: Sample[] = []
    const t0 = performance.now()
    const load = runPaced(ctx.group, { host: HOST, port: stack.front.port, rate: RATE, durationS, connections: 50, headers: stack.front.headerLines })
    let done = false
    void load.finally(() => { done = true })
    while (!done) {
      samples.push({ atS: round2((performance.now() - t0) / 1000), activatorRssKb: rssKb(a), sidecarRssKb: rssKb(s), activatorFds: fdCount(a), sidecarFds: fdCount(s) })
      const next = performance.now() + SAMPLE_MS
      while (!done && performance.now() < next) await sleep(200)
    }
    const paced = await load
    samples.push({ atS: round2((performance.now() - t0) / 1000), activatorRssKb: rssKb(a), sidecarRssKb: rssKb(s), activatorFds: fdCount(a), sidecarFds: fdCount(s) })
    const ref = samples.find((x) => x.atS >= warmS) ?? samples[0]
    // The last sample taken while the load still ran (the final one is after it).
    const end = samples.at(-2) ?? samples.at(-1)
    if (ref === undefined || end === undefined) throw new Error('faults: soak took no samples')
    const growth = (from: number, to: number): number => from > 0 ? (to - from) / from * 100 : Number.NaN
    const aGrowth = growth(ref.activatorRssKb, end.activatorRssKb)
    const sGrowth = growth(ref.sidecarRssKb, end.sidecarRssKb)
    const maxA = Math.max(...samples.map((x) => x.activatorRssKb))
    const maxS = Math.max(...samples.map((x) => x.sidecarRssKb))
    Object.assign(rec.figures, {
      minutes: ctx.soakMinutes, rate: RATE, requests: paced.requests, failed: paced.errors, non2xx: paced.non2xx, p50Ms: round2(paced.latencyUs.p50 / 1000), p99Ms: round2(paced.latencyUs.p99 / 1000), p999Ms: round2(paced.latencyUs.p999 / 1000),
      refAtS: ref.atS, endAtS: end.atS,
      activatorRssRefMb: round2(ref.activatorRssKb / 1024), activatorRssEndMb: round2(end.activatorRssKb / 1024), activatorRssMaxMb: round2(maxA / 1024), activatorRssGrowthPct: round2(aGrowth),
      sidecarRssRefMb: round2(ref.sidecarRssKb / 1024), sidecarRssEndMb: round2(end.sidecarRssKb / 1024), sidecarRssMaxMb: round2(maxS / 1024), sidecarRssGrowthPct: round2(sGrowth),
      activatorFdsRef: ref.activatorFds, activatorFdsEnd: end.activatorFds, sidecarFdsRef: ref.sidecarFds, sidecarFdsEnd: end.sidecarFds,
      activatorFdsMax: Math.max(...samples.map((x) => x.activatorFds)), sidecarFdsMax: Math.max(...samples.map((x) => x.sidecarFds)),
    })
    rec.commands.push(paced.command)
    rec.notes.push(`Samples (s: activator RSS MB / fds, sidecar RSS MB / fds): ${samples.map((x) => `${x.atS.toFixed(0)}: ${(x.activatorRssKb / 1024).toFixed(1)}/${x.activatorFds}, ${(x.sidecarRssKb / 1024).toFixed(1)}/${x.sidecarFds}`).join('; ')}`)
    ctx.log(`  soak ${ctx.soakMinutes} min: ${paced.requests} requests, ${paced.errors} failed; activator RSS ${(ref.activatorRssKb / 1024).toFixed(1)} -> ${(end.activatorRssKb / 1024).toFixed(1)} MB, fds ${ref.activatorFds} -> ${end.activatorFds}; sidecar RSS ${(ref.sidecarRssKb / 1024).toFixed(1)} -> ${(end.sidecarRssKb / 1024).toFixed(1)} MB, fds ${ref.sidecarFds} -> ${end.sidecarFds}`)
    rec.check('no failed request', paced.errors === 0 && paced.non2xx === 0, '0', `${paced.errors} failed, ${paced.non2xx} non-2xx of ${paced.requests + paced.errors}`)
    rec.check('activator RSS growth < 10%', aGrowth < 10, '< 10%', `${aGrowth.toFixed(1)}% (${(ref.activatorRssKb / 1024).toFixed(1)} -> ${(end.activatorRssKb / 1024).toFixed(1)} MB)`)
    rec.check('sidecar RSS growth < 10%', sGrowth < 10, '< 10%', `${sGrowth.toFixed(1)}% (${(ref.sidecarRssKb / 1024).toFixed(1)} -> ${(end.sidecarRssKb / 1024).toFixed(1)} MB)`)
    rec.check('no fd growth (activator, sidecar)', end.activatorFds <= ref.activatorFds && end.sidecarFds <= ref.sidecarFds, 'end <= reference', `activator ${ref.activatorFds} -> ${end.activatorFds}, sidecar ${ref.sidecarFds} -> ${end.sidecarFds}`)
    return rec.finish()
  } finally {
    await stopStack(ctx, stack)
  }
}
