// Scenario 3: the user app crashes (SIGKILL) under load and is restarted DOWN_S later on the same port,
// as the kubelet restarts a container. Load: 300 req/s open loop, every request timed. A kubelet stand-in
// probes the sidecar every PROBE_INTERVAL_MS (GET / with kube-probe's User-Agent and K-Network-Probe:
// queue). Pass: non-2xx answers only between the crash and one probe interval after the app listens
// again; the first request after that is 200 within one probe interval; no request hangs (each has an
// answer, and none took more than HANG_MS).

import { connect } from 'node:net'
import { HOST, httpCall } from '../harness/targets.ts'
import { restartApp, round2, ScenarioRecorder, sleep, startStack, stopStack } from './fault-kit.ts'
import type { FaultContext, ScenarioResult, TargetKind } from './fault-kit.ts'
import { runTimeline } from './timeline-client.ts'

const RATE = 300
const LOAD_MS = 14_000
const CRASH_AT_MS = 4_000
const DOWN_MS = 3_000
const PROBE_INTERVAL_MS = 1_000
const HANG_MS = 5_000
const KUBELET = { 'User-Agent': 'kube-probe/1.31', 'K-Network-Probe': 'queue' }

async function untilListening (port: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: HOST, port }, () => { s.destroy(); resolve(true) })
      s.on('error', () => { resolve(false) })
    })
    if (ok) return true
    await sleep(2)
  }
  return false
}

export async function runAppCrashScenario (ctx: FaultContext, kind: TargetKind): Promise<ScenarioResult> {
  const rec = new ScenarioRecorder('app-crash', kind)
  const stack = await startStack(ctx, kind)
  rec.commands.push(...stack.commands)
  try {
    const { front, app } = stack
    const probes: Array<{ atMs: number, status: number }> = []
    let t0 = performance.now()
    let probing = true
    const prober = (async () => {
      while (probing) {
        const at = performance.now() - t0
        const r = await httpCall('GET', stack.sidecar.port, '/', null, KUBELET, PROBE_INTERVAL_MS)
        probes.push({ atMs: at, status: r.status })
        await sleep(Math.max(0, PROBE_INTERVAL_MS - (performance.now() - t0 - at)))
      }
    })()
    const loadP = runTimeline({ port: front.port, rate: RATE, durationMs: LOAD_MS, headers: front.headers, timeoutMs: HANG_MS })
    t0 = performance.now()
    await sleep(CRASH_AT_MS)
    const crashAtMs = performance.now() - t0
    process.kill(app.child.pid, 'SIGKILL')
    await app.child.exited
    await sleep(DOWN_MS)
    await restartApp(ctx, app)
    const listening = await untilListening(app.port, 10_000)
    const upAtMs = performance.now() - t0
    const timeline = await loadP
    probing = false
    await prober
    // The load's clock started a hair before ours; shift its samples onto ours.
    const shift = timeline.t0 - t0
    const samples = timeline.samples.map((s) => ({ startMs: s.startMs + shift, endMs: s.endMs + shift, status: s.status }))
    const bad = samples.filter((s) => s.status < 200 || s.status > 299)
    const outside = bad.filter((s) => s.endMs < crashAtMs || s.startMs > upAtMs + PROBE_INTERVAL_MS)
    const firstOk = samples.find((s) => s.startMs >= upAtMs && s.status === 200)
    const lastBad = bad.at(-1)
    const maxMs = samples.reduce((m, s) => Math.max(m, s.endMs - s.startMs), 0)
    const expected = Math.round((RATE * LOAD_MS) / 1000)
    const byStatus: Record<string, number> = {}
    for (const s of bad) byStatus[String(s.status)] = (byStatus[String(s.status)] ?? 0) + 1
    const probeOkAfter = probes.find((p) => p.atMs >= upAtMs && p.status === 200)
    const probeFailDown = probes.filter((p) => p.atMs > crashAtMs && p.atMs < upAtMs - 50).map((p) => p.status)
    Object.assign(rec.figures, {
      rate: RATE, requests: samples.length, expected, non2xx: bad.length, non2xxByStatus: JSON.stringify(byStatus),
      crashAtS: round2(crashAtMs / 1000), upAtS: round2(upAtMs / 1000), downMs: round2(upAtMs - crashAtMs),
      non2xxOutsideDown: outside.length, lastNon2xxEndAfterUpMs: lastBad === undefined ? null : round2(lastBad.endMs - upAtMs),
      firstOkAfterUpMs: firstOk === undefined ? null : round2(firstOk.endMs - upAtMs), maxLatencyMs: round2(maxMs),
      kubeletProbeOkAfterUpMs: probeOkAfter === undefined ? null : round2(probeOkAfter.atMs - upAtMs),
      kubeletProbeStatusesWhileDown: probeFailDown.join(',') || '-',
    })
    rec.commands.push(`loadtest/faults/timeline-client.ts: ${RATE} req/s for ${LOAD_MS / 1000} s (GET /), app SIGKILLed at ${CRASH_AT_MS / 1000} s and restarted ${DOWN_MS / 1000} s later; kubelet-style probe of the sidecar every ${PROBE_INTERVAL_MS} ms`)
    ctx.log(`  ${kind}: ${samples.length} requests, non-2xx ${JSON.stringify(byStatus)}, first 200 ${String(rec.figures.firstOkAfterUpMs)} ms after the app listened, max latency ${maxMs.toFixed(0)} ms`)
    rec.check('app restarted', listening, 'listening', String(listening))
    rec.check('every request answered, none hung', samples.length === expected && bad.every((s) => s.status !== 0) && maxMs < HANG_MS, `${expected} answered, max < ${HANG_MS} ms`, `${samples.length} answered (${byStatus['0'] ?? 0} without status), max ${maxMs.toFixed(0)} ms`)
    rec.check('non-2xx only while the app is down (+ one probe interval)', outside.length === 0, '0 outside', String(outside.length))
    rec.check('recovered within one probe interval', firstOk !== undefined && firstOk.endMs - upAtMs <= PROBE_INTERVAL_MS, `<= ${PROBE_INTERVAL_MS} ms`, firstOk === undefined ? 'never' : `${(firstOk.endMs - upAtMs).toFixed(0)} ms`)
    rec.check('kubelet probe passes again within one probe interval', probeOkAfter !== undefined && probeOkAfter.atMs - upAtMs <= PROBE_INTERVAL_MS + 100, `<= ${PROBE_INTERVAL_MS} ms (+100 ms probe round trip)`, probeOkAfter === undefined ? 'never' : `${(probeOkAfter.atMs - upAtMs).toFixed(0)} ms`)
    return rec.finish()
  } finally {
    await stopStack(ctx, stack)
  }
}
