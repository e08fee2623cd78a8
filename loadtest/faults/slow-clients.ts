// Scenario 4: 1,000 slow connections at once: 500 Slowloris clients (a request head dribbled one byte a
// second, never finished) and 500 slow readers (GET /big?kb=8192, 8 MB, read at 1 KB a second; 256 KB fits in loopback's socket
// buffers, so the proxy would be done with it at once). Meanwhile
// other clients send 500 req/s (paced, open loop); their p99 is set beside a baseline run of the
// same load with no slow client. CC 0 (no admission limit), so slow readers do not hold the other
// clients' slots: what is measured is the server, not the concurrency limit.
//
// Timeouts as docs/sidecar.md documents them: a head not complete after 60 s gets 408; a response still
// being written when the revision timeout passes is cut (set to REVISION_TIMEOUT_S here: the sidecar's
// --revision-timeout, the activator's --activation-timeout). Pass: every Slowloris connection got its
// 408 (or a close) between 60 and 65 s, every slow reader was cut at the revision timeout (+3 s; read
// as the proxy's open fds, since a paused reader does not see the FIN behind its unread bytes), RSS
// grew less than 256 KB per slow connection (far less than the 8 MB a reader is owed) and stopped growing,
// and the other clients' p99 stayed under max(3 x baseline, baseline + 20 ms) with no error.

import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { runPaced } from '../harness/paced-runner.ts'
import { HOST } from '../harness/targets.ts'
import { fdCount, round2, rssKb, ScenarioRecorder, sleep, startStack, stopStack } from './fault-kit.ts'
import type { FaultContext, ScenarioResult, TargetKind } from './fault-kit.ts'

const SLOWLORIS = 500
const SLOW_READERS = 500
const REVISION_TIMEOUT_S = 30
const HEAD_TIMEOUT_S = 60
/** The first byte goes out up to 1 s after connect (random phase), and the server checks head deadlines on a coarse tick. */
const HEAD_SLACK_S = 5
const RUN_S_MIN = HEAD_TIMEOUT_S + HEAD_SLACK_S + 1
const OTHER_RATE = 500
const OTHER_S = 15
const READ_BYTES_PER_S = 1024
/** Larger than what the kernel's socket buffers take on loopback, so the proxy still holds the response when the timeout passes. */
const SLOW_READ_KB = 8192

interface SlowConn { socket: Socket, openedMs: number, endedMs: number | null, status: number, bytes: number }

function open (port: number, onOpen: (s: Socket) => void): SlowConn {
  const socket = connect({ host: HOST, port, noDelay: true })
  const c: SlowConn = { socket, openedMs: performance.now(), endedMs: null, status: 0, bytes: 0 }
  socket.on('error', () => {})
  socket.on('close', () => { c.endedMs ??= performance.now() })
  socket.once('connect', () => { onOpen(socket) })
  return c
}

export async function runSlowClientsScenario (ctx: FaultContext, kind: TargetKind): Promise<ScenarioResult> {
  const rec = new ScenarioRecorder('slow-clients', kind)
  const timeoutArgs = kind === 'sidecar' ? { sidecarArgs: ['--revision-timeout', String(REVISION_TIMEOUT_S)] } : { activatorArgs: ['--activation-timeout', String(REVISION_TIMEOUT_S)] }
  const stack = await startStack(ctx, kind, { cc: 0, ...timeoutArgs })
  rec.commands.push(...stack.commands)
  const conns: SlowConn[] = []
  const timers: NodeJS.Timeout[] = []
  try {
    const { front } = stack
    const routing = front.headerLines.map((h) => `${h}\r\n`).join('')
    const base = await runPaced(ctx.group, { host: HOST, port: front.port, rate: OTHER_RATE, durationS: OTHER_S, connections: 20, headers: front.headerLines })
    await sleep(2_000)
    const idleKb = rssKb(front.pid)
    const idleFds = fdCount(front.pid)
    const t0 = performance.now()
    // The proxy's open fds, once a second: a paused slow reader does not see the server's FIN behind
    // its unread bytes, so whether the proxy cut the connection is read on the proxy's side.
    const fds: Array<{ atS: number, fds: number, rssKb: number }> = []
    const sampler = setInterval(() => { fds.push({ atS: (performance.now() - t0) / 1000, fds: fdCount(front.pid), rssKb: rssKb(front.pid) }) }, 1000)
    timers.push(sampler)
    // Slowloris: a head that would be complete only after hours, one byte a second.
    const head = Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n${routing}X-Slow: ${'s'.repeat(10_000)}\r\n\r\n`)
    const loris: SlowConn[] = []
    for (let i = 0; i < SLOWLORIS; i++) {
      const c = open(front.port, (s) => {
        let at = 0
        // A random phase per connection, so the 500 dribbles are spread over the second as real ones are.
        const start = setTimeout(() => {
          const t = setInterval(() => { if (s.destroyed || at >= head.length) { clearInterval(t); return } s.write(head.subarray(at, ++at)) }, 1000)
          timers.push(t)
        }, Math.random() * 1000)
        timers.push(start)
      })
      c.socket.on('data', (d: Buffer) => { if (c.status === 0) c.status = Number(d.subarray(9, 12).toString('latin1')); c.endedMs ??= performance.now() })
      loris.push(c)
    }
    // Slow readers: the socket is paused and drained READ_BYTES_PER_S a second.
    const readers: SlowConn[] = []
    for (let i = 0; i < SLOW_READERS; i++) {
      const c = open(front.port, (s) => {
        s.pause()
        s.write(`GET /big?kb=${SLOW_READ_KB} HTTP/1.1\r\nHost: ${HOST}\r\n${routing}\r\n`)
        const start = setTimeout(() => {
          const t = setInterval(() => {
            if (s.destroyed) { clearInterval(t); return }
            const chunk = s.read(READ_BYTES_PER_S) as Buffer | null
            if (chunk !== null) { if (c.bytes === 0) c.status = Number(chunk.subarray(9, 12).toString('latin1')); c.bytes += chunk.length }
          }, 1000)
          timers.push(t)
        }, Math.random() * 1000)
        timers.push(start)
      })
      readers.push(c)
    }
    conns.push(...loris, ...readers)
    await sleep(10_000)
    const during = await runPaced(ctx.group, { host: HOST, port: front.port, rate: OTHER_RATE, durationS: OTHER_S, connections: 20, headers: front.headerLines })
    while (performance.now() - t0 < RUN_S_MIN * 1000) await sleep(500)
    clearInterval(sampler)
    const rss = fds.map((x) => x.rssKb)
    const peakKb = Math.max(...rss)
    const fdsAt = (atS: number): number => fds.find((x) => x.atS >= atS)?.fds ?? -1
    const fdsBeforeCut = fdsAt(REVISION_TIMEOUT_S - 2)
    const fdsAfterCut = fdsAt(REVISION_TIMEOUT_S + 3)
    const fdsAfterHeadTimeout = fds.at(-1)?.fds ?? -1
    const lorisEnds = loris.map((c) => c.endedMs === null ? null : (c.endedMs - c.openedMs) / 1000)
    const lorisOk = lorisEnds.filter((s) => s !== null && s >= HEAD_TIMEOUT_S - 0.5 && s <= HEAD_TIMEOUT_S + HEAD_SLACK_S).length
    const lorisEarly = lorisEnds.filter((s) => s !== null && s < HEAD_TIMEOUT_S - 0.5).length
    const lorisStatus: Record<string, number> = {}
    for (const c of loris) lorisStatus[String(c.status)] = (lorisStatus[String(c.status)] ?? 0) + 1
    const readerEnds = readers.map((c) => c.endedMs === null ? null : (c.endedMs - c.openedMs) / 1000)
    // Each slow reader holds a client socket and, on the sidecar, an upstream socket (the activator's go to
    // the sidecar over its pool): at least one fd each must be gone after the timeout.
    const readersCut = fdsBeforeCut - fdsAfterCut
    const readerStatus: Record<string, number> = {}
    for (const c of readers) readerStatus[String(c.status)] = (readerStatus[String(c.status)] ?? 0) + 1
    const range = (xs: Array<number | null>): string => { const v = xs.filter((x): x is number => x !== null); return v.length === 0 ? '-' : `${Math.min(...v).toFixed(1)}-${Math.max(...v).toFixed(1)}` }
    const bound = base.latencyUs.p99 / 1000 * 3
    const limitMs = Math.max(bound, base.latencyUs.p99 / 1000 + 20)
    const perConnKb = (peakKb - idleKb) / (SLOWLORIS + SLOW_READERS)
    const growthLast = rss.length >= 11 ? (rss.at(-1) ?? 0) - (rss.at(-11) ?? 0) : 0
    Object.assign(rec.figures, {
      slowloris: SLOWLORIS, slowReaders: SLOW_READERS, idleRssMb: round2(idleKb / 1024), peakRssMb: round2(peakKb / 1024), rssPerSlowConnKb: round2(perConnKb),
      rssGrowthLast10sMb: round2(growthLast / 1024), fdsIdle: idleFds, fdsBeforeRevisionTimeout: fdsBeforeCut, fdsAfterRevisionTimeout: fdsAfterCut, fdsAfterHeadTimeout,
      slowlorisStatuses: JSON.stringify(lorisStatus), slowlorisClosedAtS: range(lorisEnds), slowlorisClosedEarly: lorisEarly,
      slowReaderStatuses: JSON.stringify(readerStatus), slowReadersCutAtS: range(readerEnds), slowReaderMeanKb: round2(readers.reduce((a, c) => a + c.bytes, 0) / readers.length / 1024),
      baselineP99Ms: round2(base.latencyUs.p99 / 1000), duringP99Ms: round2(during.latencyUs.p99 / 1000), baselineP50Ms: round2(base.latencyUs.p50 / 1000), duringP50Ms: round2(during.latencyUs.p50 / 1000),
      duringErrors: during.errors, duringNon2xx: during.non2xx, baselineErrors: base.errors,
    })
    rec.commands.push(`baseline: ${base.command}`, `slow: ${SLOWLORIS} Slowloris connections (a 10 KB head, 1 byte/s) + ${SLOW_READERS} slow readers (GET /big?kb=${SLOW_READ_KB}, read ${READ_BYTES_PER_S} B/s) for ${RUN_S_MIN} s`, `during (10 s in): ${during.command}`)
    ctx.log(`  ${kind}: Slowloris ${JSON.stringify(lorisStatus)} closed at ${range(lorisEnds)} s; readers ${JSON.stringify(readerStatus)} cut at ${range(readerEnds)} s; RSS ${(idleKb / 1024).toFixed(1)} -> ${(peakKb / 1024).toFixed(1)} MB; p99 ${(base.latencyUs.p99 / 1000).toFixed(2)} -> ${(during.latencyUs.p99 / 1000).toFixed(2)} ms`)
    rec.check(`Slowloris heads answered/closed at the ${HEAD_TIMEOUT_S} s head timeout`, lorisOk === SLOWLORIS, `${SLOWLORIS} between ${HEAD_TIMEOUT_S - 0.5} and ${HEAD_TIMEOUT_S + HEAD_SLACK_S} s after connect`, `${lorisOk} (range ${range(lorisEnds)} s, statuses ${JSON.stringify(lorisStatus)})`)
    rec.check(`slow readers cut at the ${REVISION_TIMEOUT_S} s revision timeout`, readersCut >= SLOW_READERS, `the proxy closes >= ${SLOW_READERS} fds between ${REVISION_TIMEOUT_S - 2} and ${REVISION_TIMEOUT_S + 3} s`, `${readersCut} (${fdsBeforeCut} -> ${fdsAfterCut}; client-side close seen at ${range(readerEnds)} s)`)
    rec.check('memory bounded: < 256 KB RSS per slow connection', perConnKb < 256, '< 256 KB', `${perConnKb.toFixed(1)} KB`)
    rec.check('other clients unaffected', during.errors === 0 && during.non2xx === 0 && during.latencyUs.p99 / 1000 <= limitMs, `0 errors, p99 <= ${limitMs.toFixed(1)} ms`, `${during.errors} errors, ${during.non2xx} non-2xx, p99 ${(during.latencyUs.p99 / 1000).toFixed(2)} ms (baseline ${(base.latencyUs.p99 / 1000).toFixed(2)})`)
    return rec.finish()
  } finally {
    for (const t of timers) clearInterval(t)
    for (const c of conns) c.socket.destroy()
    await stopStack(ctx, stack)
  }
}
