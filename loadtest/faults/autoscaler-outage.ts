// Scenario 6: the autoscaler's stat server is unreachable for 30 s while the activator serves traffic.
// The autoscaler here is a fake websocket sink (ws, in the bench process) that timestamps every frame;
// the activator pushes JSON stats (--stats-protocol json) to it. At OUTAGE_AT_MS the sink closes its
// connections and stops listening (connects are refused); OUTAGE_MS later it listens again on the same
// port. Load: 200 req/s through the activator the whole time. Pass: no request fails during the
// outage, the activator reconnects by itself, and the first stat frame arrives <= 1 s after the sink
// is back. Also recorded: the activator's kubelet probe during and after the outage (docs/activator.md says
// 500 while the autoscaler websocket is down).

import { WebSocketServer } from 'ws'
import { freePort, HOST, httpCall } from '../harness/targets.ts'
import { round2, ScenarioRecorder, sleep, startStack, stopStack } from './fault-kit.ts'
import type { FaultContext, ScenarioResult, TargetKind } from './fault-kit.ts'
import { runTimeline } from './timeline-client.ts'

const OUTAGE_AT_MS = 8_000
const OUTAGE_MS = 30_000
const LOAD_MS = 50_000
const RATE = 200
const KUBELET = { 'User-Agent': 'kube-probe/1.31' }

class Sink {
  readonly frames: number[] = []
  readonly connections: number[] = []
  #wss: WebSocketServer | null = null
  readonly #port: number

  constructor (port: number) { this.#port = port }

  async listen (): Promise<void> {
    const wss = new WebSocketServer({ host: HOST, port: this.#port })
    await new Promise<void>((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject) })
    wss.on('connection', (ws) => {
      this.connections.push(performance.now())
      ws.on('message', () => { this.frames.push(performance.now()) })
      ws.on('error', () => {})
    })
    this.#wss = wss
  }

  async close (): Promise<void> {
    const wss = this.#wss
    this.#wss = null
    if (wss === null) return
    for (const c of wss.clients) c.terminate()
    await new Promise<void>((resolve) => { wss.close(() => { resolve() }) })
  }
}

export async function runAutoscalerOutageScenario (ctx: FaultContext, kind: TargetKind): Promise<ScenarioResult> {
  const rec = new ScenarioRecorder('autoscaler-outage', kind)
  const port = await freePort()
  const sink = new Sink(port)
  await sink.listen()
  const stack = await startStack(ctx, kind, { activatorArgs: ['--autoscaler', `ws://${HOST}:${port}`, '--stats-protocol', 'json'] })
  rec.commands.push(...stack.commands)
  try {
    const { front } = stack
    for (let i = 0; i < 50 && sink.frames.length === 0; i++) await sleep(100)
    const load = runTimeline({ port: front.port, rate: RATE, durationMs: LOAD_MS, headers: front.headers, timeoutMs: 5_000 })
    const t0 = performance.now()
    await sleep(OUTAGE_AT_MS)
    await sink.close()
    const downAt = performance.now()
    await sleep(OUTAGE_MS / 2)
    const probeDuring = await httpCall('GET', front.port, '/', null, KUBELET)
    await sleep(OUTAGE_MS / 2 - (performance.now() - downAt - OUTAGE_MS / 2))
    const connsBefore = sink.connections.length
    await sink.listen()
    const upAt = performance.now()
    const timeline = await load
    const probeAfter = await httpCall('GET', front.port, '/', null, KUBELET)
    const shift = timeline.t0 - t0
    const outage = timeline.samples.filter((s) => s.startMs + shift >= downAt - t0 && s.startMs + shift <= upAt - t0)
    const failedOutage = outage.filter((s) => s.status !== 200).length
    const failedAll = timeline.samples.filter((s) => s.status !== 200).length
    const reconnectAt = sink.connections.slice(connsBefore)[0]
    const firstFrame = sink.frames.find((f) => f >= upAt)
    const framesAfter = sink.frames.filter((f) => f >= upAt).length
    const framesDuringOutage = sink.frames.filter((f) => f > downAt && f < upAt).length
    const resumeMs = firstFrame === undefined ? null : firstFrame - upAt
    Object.assign(rec.figures, {
      outageS: round2((upAt - downAt) / 1000), rate: RATE, requests: timeline.samples.length, requestsDuringOutage: outage.length,
      failedDuringOutage: failedOutage, failedTotal: failedAll, reconnectAfterUpMs: reconnectAt === undefined ? null : round2(reconnectAt - upAt),
      firstStatAfterUpMs: resumeMs === null ? null : round2(resumeMs), framesAfterUp: framesAfter, framesDuringOutage,
      secondsAfterUp: round2((performance.now() - upAt) / 1000), connectionsTotal: sink.connections.length,
      kubeletProbeDuringOutage: probeDuring.status, kubeletProbeAfter: probeAfter.status,
    })
    rec.commands.push(`fake stat sink: ws WebSocketServer on ${HOST}:<port> (in the bench), closed ${OUTAGE_AT_MS / 1000} s into the load for ${OUTAGE_MS / 1000} s`, `loadtest/faults/timeline-client.ts: ${RATE} req/s for ${LOAD_MS / 1000} s through the activator`)
    ctx.log(`  ${kind}: ${failedOutage}/${outage.length} failed during the outage, reconnected ${String(rec.figures.reconnectAfterUpMs)} ms and first stat ${String(rec.figures.firstStatAfterUpMs)} ms after the sink was back; probe ${probeDuring.status} during, ${probeAfter.status} after`)
    rec.check('keeps serving during the outage', failedOutage === 0 && failedAll === 0 && outage.length > 0, `0 failed of ~${(RATE * OUTAGE_MS) / 1000}`, `${failedOutage} failed of ${outage.length} (all: ${failedAll})`)
    rec.check('reconnects', reconnectAt !== undefined, 'a new connection', reconnectAt === undefined ? 'none' : `${(reconnectAt - upAt).toFixed(0)} ms after the sink was back`)
    rec.check('stats resume <= 1 s after the sink is back', resumeMs !== null && resumeMs <= 1000, '<= 1000 ms', resumeMs === null ? 'none' : `${resumeMs.toFixed(0)} ms`)
    return rec.finish()
  } finally {
    await sink.close()
    await stopStack(ctx, stack)
  }
}
