// Scenario 5: 10,000 idle keep-alive client connections. Each connection sends one GET / (so it is a
// served keep-alive connection, not just an accepted socket), reads the answer and then stays idle.
// RSS of the proxy before and with them open gives the cost per connection. Pass: every connection
// served and still open after HOLD_MS, a fresh request still answered at once, and RSS per idle
// connection < 16 KB (Node's socket + the server's per-connection state; the kernel's socket buffers
// are not in RSS). The fd limit is the inherited one (20,000 here; the hard limit too), which covers
// 10,000 connections on each side; the figure says what it was.

import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { HOST, httpCall } from '../harness/targets.ts'
import { fdCount, fdLimit, round2, rssKb, ScenarioRecorder, sleep, startStack, stopStack } from './fault-kit.ts'
import type { FaultContext, ScenarioResult, TargetKind } from './fault-kit.ts'

const CONNECTIONS = 10_000
const BATCH = 100
const HOLD_MS = 10_000
const MAX_KB_PER_CONN = 16
const CONNECT_TIMEOUT_MS = 10_000

function served (port: number, request: Buffer): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = connect({ host: HOST, port, noDelay: true })
    let got = ''
    const fail = (): void => { clearTimeout(timer); s.destroy(); resolve(null) }
    const timer = setTimeout(fail, CONNECT_TIMEOUT_MS)
    s.on('error', fail)
    s.on('close', fail)
    s.once('connect', () => { s.write(request) })
    const onData = (d: Buffer): void => {
      got += d.toString('latin1')
      // The answer is 1 KB with a Content-Length: wait for all of it.
      if (got.length >= 1024 && got.includes('\r\n\r\n') && got.length - got.indexOf('\r\n\r\n') - 4 >= 1024) {
        s.off('data', onData)
        s.off('close', fail)
        clearTimeout(timer)
        resolve(got.startsWith('HTTP/1.1 200') ? s : null)
      }
    }
    s.on('data', onData)
  })
}

export async function runIdleConnectionsScenario (ctx: FaultContext, kind: TargetKind): Promise<ScenarioResult> {
  const rec = new ScenarioRecorder('idle-connections', kind)
  // CC 0: a batch of first requests must not meet the admission queue's limit (CC 10 queues 100).
  const stack = await startStack(ctx, kind, { cc: 0 })
  rec.commands.push(...stack.commands)
  const sockets: Socket[] = []
  try {
    const { front } = stack
    const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n${front.headerLines.map((h) => `${h}\r\n`).join('')}\r\n`)
    for (let i = 0; i < 200; i++) await served(front.port, request).then((s) => s?.destroy())
    await sleep(2_000)
    const idleKb = rssKb(front.pid)
    const fd0 = fdCount(front.pid)
    let failed = 0
    for (let i = 0; i < CONNECTIONS; i += BATCH) {
      const batch = await Promise.all(Array.from({ length: Math.min(BATCH, CONNECTIONS - i) }, async () => await served(front.port, request)))
      for (const s of batch) { if (s === null) failed++; else sockets.push(s) }
      if ((i / BATCH) % 10 === 9) ctx.log(`  ${kind}: ${sockets.length} open, ${failed} failed, proxy fds ${fdCount(front.pid)}`)
    }
    let closedEarly = 0
    for (const s of sockets) s.on('close', () => { closedEarly++ })
    await sleep(HOLD_MS)
    const openKb = rssKb(front.pid)
    const fd1 = fdCount(front.pid)
    const t = performance.now()
    const fresh = await httpCall('GET', front.port, '/', null, front.headers)
    const freshMs = performance.now() - t
    const perConnKb = (openKb - idleKb) / sockets.length
    Object.assign(rec.figures, {
      connections: CONNECTIONS, served: sockets.length, failed, closedDuringHold: closedEarly, fdLimit: fdLimit(front.pid), fdsBefore: fd0, fdsWithConnections: fd1,
      idleRssMb: round2(idleKb / 1024), rssWithConnectionsMb: round2(openKb / 1024), rssPerConnectionKb: round2(perConnKb), freshRequestMs: round2(freshMs),
    })
    rec.commands.push(`loadtest/faults/idle-connections.ts: ${CONNECTIONS} connections opened ${BATCH} at a time, one GET / each, then idle ${HOLD_MS / 1000} s`)
    ctx.log(`  ${kind}: ${sockets.length} served, ${failed} failed, RSS ${(idleKb / 1024).toFixed(1)} -> ${(openKb / 1024).toFixed(1)} MB (${perConnKb.toFixed(2)} KB/conn), fds ${fd0} -> ${fd1}`)
    rec.check('all connections served and kept open', failed === 0 && closedEarly === 0, `${CONNECTIONS} served, 0 closed`, `${sockets.length} served, ${failed} failed, ${closedEarly} closed`)
    rec.check('a new request is still answered at once', fresh.status === 200 && freshMs < 500, '200 in < 500 ms', `${fresh.status} in ${freshMs.toFixed(1)} ms`)
    rec.check(`RSS per idle connection < ${MAX_KB_PER_CONN} KB`, perConnKb < MAX_KB_PER_CONN, `< ${MAX_KB_PER_CONN} KB`, `${perConnKb.toFixed(2)} KB`)
    return rec.finish()
  } finally {
    for (const s of sockets) s.destroy()
    await stopStack(ctx, stack)
  }
}
