// Scenario 2: the Kubernetes drain sequence under a 2,000 req/s open-loop load. The kubelet runs the
// preStop hook (sidecar: GET :8022/wait-for-drain) and sends SIGTERM at about the same time, while the
// endpoints change has not yet reached every client, so traffic keeps coming for a while. Here: the
// paced client (2,000 req/s over 50 keep-alive connections) runs LOAD_S seconds; at TERM_AT_S the
// preStop GET and SIGTERM go out together; the load goes on to its end, then stops (the pod is out of
// the endpoints). Pass: every request answered 2xx, the process exits 0, and when its drainer says: a
// quiet period (--drain-seconds) after the last request, but no later than the drain's cap after SIGTERM
// (sidecar: drain + revision timeout, 300 s; activator: 2 x drain, src/activator/activator-server.ts).

import { runPaced } from '../harness/paced-runner.ts'
import { HOST, httpCall } from '../harness/targets.ts'
import { round2, ScenarioRecorder, sleep, startStack } from './fault-kit.ts'
import type { FaultContext, ScenarioResult, TargetKind } from './fault-kit.ts'

const RATE = 2000
const LOAD_S = 12
const TERM_AT_S = 4
const DRAIN_SECONDS = 5
/** The paced client opens its connections for 200 ms before its clock starts. */
const PACED_LEAD_MS = 200

export async function runDrainScenario (ctx: FaultContext, kind: TargetKind): Promise<ScenarioResult> {
  const rec = new ScenarioRecorder('drain', kind)
  const drainArgs = ['--drain-seconds', String(DRAIN_SECONDS)]
  const stack = await startStack(ctx, kind, kind === 'sidecar' ? { sidecarArgs: drainArgs } : { activatorArgs: drainArgs })
  rec.commands.push(...stack.commands)
  const { front } = stack
  const t0 = performance.now()
  const load = runPaced(ctx.group, { host: HOST, port: front.port, rate: RATE, durationS: LOAD_S, connections: 50, headers: front.headerLines })
  let exitAtMs = Number.NaN
  const exited = front.child.exited.then((code) => { exitAtMs = performance.now() - t0; return code })
  await sleep(PACED_LEAD_MS + TERM_AT_S * 1000)
  const termAtMs = performance.now() - t0
  const preStop = kind === 'sidecar'
    ? httpCall('GET', stack.sidecar.adminPort, '/wait-for-drain', null, {}, 120_000).then((r) => ({ status: r.status, atMs: performance.now() - t0 }))
    : Promise.resolve(null)
  process.kill(front.pid, 'SIGTERM')
  const paced = await load
  const loadEndMs = performance.now() - t0
  const timeout = sleep(60_000).then(() => 'timeout' as const)
  const code = await Promise.race([exited, timeout])
  const pre = await preStop
  rec.commands.push(`${paced.command} (SIGTERM${kind === 'sidecar' ? ' and GET :<admin>/wait-for-drain' : ''} ${TERM_AT_S} s into it)`)
  Object.assign(rec.figures, {
    rate: RATE, loadS: LOAD_S, sent: paced.requests + paced.errors, completed: paced.requests, failed: paced.errors, non2xx: paced.non2xx,
    p99Ms: round2(paced.latencyUs.p99 / 1000), termAtS: round2(termAtMs / 1000), loadEndS: round2(loadEndMs / 1000),
    exitAtS: round2(exitAtMs / 1000), exitCode: code === 'timeout' ? 'still running after 60 s' : code,
    exitAfterLastRequestS: round2((exitAtMs - loadEndMs) / 1000), drainSeconds: DRAIN_SECONDS,
    preStopStatus: pre?.status ?? null, preStopAnsweredAtS: pre === null ? null : round2(pre.atMs / 1000),
  })
  ctx.log(`  ${kind}: ${paced.requests} answered, ${paced.errors} failed, ${paced.non2xx} non-2xx; SIGTERM at ${(termAtMs / 1000).toFixed(1)} s, load end ${(loadEndMs / 1000).toFixed(1)} s, exit ${String(code)} at ${(exitAtMs / 1000).toFixed(1)} s`)
  rec.check('no failed request', paced.errors === 0 && paced.non2xx === 0, '0 failed, 0 non-2xx', `${paced.errors} failed, ${paced.non2xx} non-2xx of ${paced.requests + paced.errors}`)
  rec.check('exits 0', code === 0, '0', String(code))
  const capS = kind === 'sidecar' ? DRAIN_SECONDS + 300 : 2 * DRAIN_SECONDS
  const dueS = Math.min(loadEndMs / 1000 + DRAIN_SECONDS, termAtMs / 1000 + capS)
  const exitS = exitAtMs / 1000
  rec.figures.drainCapS = capS
  rec.figures.expectedExitAtS = round2(dueS)
  rec.check('exits when the drain ends: quiet period after the last request, or the cap after SIGTERM', exitS >= dueS - 1 && exitS <= dueS + 3, `${(dueS - 1).toFixed(1)}..${(dueS + 3).toFixed(1)} s (min(load end + ${DRAIN_SECONDS}, SIGTERM + ${capS}))`, `${exitS.toFixed(2)} s`)
  if (pre !== null) rec.check('preStop answered when the drain was done', pre.status === 200 && pre.atMs <= exitAtMs + 100, '200, before exit', `${pre.status} at ${(pre.atMs / 1000).toFixed(2)} s`)
  if (kind === 'activator') rec.notes.push('The activator has no preStop endpoint; Knative sends it SIGTERM only. The sidecar behind it stays up.')
  rec.notes.push(`--drain-seconds ${DRAIN_SECONDS} (Knative's default is 30; shortened so the scenario is bounded).`)
  await ctx.group.stopAll()
  return rec.finish()
}
