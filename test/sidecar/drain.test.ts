import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { childEnv, send, sleep, startApp, startSidecar, until, type Reply } from '../helpers/sidecar-fixture.ts'
import { STACKS, stackTests, type Stack } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', STACKS, { parallel: true })

const KUBELET = { 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'queue' }

test('drain: probes fail at once, traffic is still served, in-flight and queued requests finish', async (t, stack) => {
  const hold: Array<() => void> = []
  const app = await startApp(t, (req, res) => { hold.push(() => res.end(req.url)) })
  // The drain's quiet period runs on fake time.
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, [...stack.argv, '--drain-seconds', '0.3'], { clock, timers })
  await until(() => sidecar.prober.isReady)
  const inFlight = send(`${url}/a`)
  const queued = send(`${url}/b`)
  await until(() => app.inFlight === 1 && sidecar.breaker?.queued === 1)
  const done = sidecar.shutdown()
  const probeOnce = async (): Promise<Reply> => send(url, { headers: KUBELET })
  const probe = await probeOnce()
  t.equal(probe.status, 503)
  t.equal(probe.body, 'shutting down\n')
  const late = send(`${url}/late`) // arrives during the quiet period: still served, restarts it
  await until(() => sidecar.breaker?.queued === 2, 2000, 'the late request queued')
  await timers.advance(1_000) // more than three quiet periods: the serving port closes, the work goes on
  t.notOk(await settledAfterRoundTrip(done, () => sleep(20)), 'shutdown waits for queued and in-flight work')
  let finished = false
  void done.then(() => { finished = true })
  while (!finished) {
    const h = hold.shift()
    if (h !== undefined) h()
    else await timers.advance(100)
    await sleep(5)
  }
  t.same([(await inFlight).body, (await queued).body, (await late).body], ['/a', '/b', '/late'])
})

/** A sidecar whose drain and preStop reset run on fake time; `--drain-seconds 3`, longer than Knative's 1 s reset. */
async function fakeTimeSidecar (t: Test, stack: Stack) {
  const app = await startApp(t, (req, res) => { res.end(req.url) })
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const started = await startSidecar(t, app.port, {}, [...stack.argv, '--drain-seconds', '3'], { clock, timers })
  await until(() => started.sidecar.prober.isReady)
  const admin = `http://127.0.0.1:${started.ports.admin}`
  return { ...started, app, timers, admin, probe: async () => (await send(started.url, { headers: KUBELET })).status }
}

/** Resolves to true once `p` has settled; false if it has not after one probe round trip (which never touches the drain). */
async function settledAfterRoundTrip (p: Promise<unknown>, roundTrip: () => Promise<unknown>): Promise<boolean> {
  let settled = false
  void p.then(() => { settled = true }, () => { settled = true })
  await roundTrip()
  return settled
}

// The kubelet runs the user container's preStop hook (GET :8022/wait-for-drain) and sends the
// queue-proxy SIGTERM at the same moment, in either order. Requests keep arriving for seconds
// (endpoint removal propagates slowly): every one is served, and the drain ends a quiet period
// after the last one, never at Knative's 1 s restart reset.
for (const order of ['preStop first', 'SIGTERM first'] as const) {
  test(`pod deletion (${order}): traffic for 5 s after SIGTERM is served, drained 3 s after the last request`, async (t, stack) => {
    const { sidecar, url, admin, timers, probe } = await fakeTimeSidecar(t, stack)
    let preStop: Promise<Reply>
    let shutdown: Promise<void>
    if (order === 'preStop first') {
      preStop = send(`${admin}/wait-for-drain`)
      await until(() => sidecar.drainer.isDraining)
      shutdown = sidecar.shutdown()
    } else {
      shutdown = sidecar.shutdown()
      await until(() => sidecar.drainer.isDraining)
      preStop = send(`${admin}/wait-for-drain`)
    }
    const statuses: number[] = []
    for (let i = 0; i < 10; i++) {
      await timers.advance(500)
      statuses.push((await send(`${url}/r${i}`)).status)
    }
    t.same(statuses, Array(10).fill(200), 'every request during the 5 s is served')
    t.equal(await probe(), 503, 'probes still fail: the drain was not reset')
    await timers.advance(2_999)
    t.notOk(await settledAfterRoundTrip(preStop, probe), 'preStop still waits 2.999 s after the last request')
    t.notOk(await settledAfterRoundTrip(shutdown, probe), 'shutdown still waits')
    await timers.advance(1)
    t.equal((await preStop).status, 200, 'preStop answered 200 once drained')
    await shutdown
    await t.rejects(send(url), 'the serving port is closed after the drain')
  })
}

test('preStop without SIGTERM (container restart): the drain resets after 1 s and serving goes on', async (t, stack) => {
  const { url, admin, timers, probe } = await fakeTimeSidecar(t, stack)
  const preStop = send(`${admin}/wait-for-drain`)
  await until(() => timers.size >= 2) // the drain's quiet timer and the admin port's reset timer
  t.equal(await probe(), 503, 'probes fail while draining')
  await timers.advance(999)
  t.notOk(await settledAfterRoundTrip(preStop, probe), 'preStop waits until the reset')
  await timers.advance(1)
  t.equal((await preStop).status, 200, 'the reset interrupts the drain: preStop answered')
  t.equal(await probe(), 200, 'probes pass again')
  t.equal((await send(`${url}/after`)).body, '/after')
  t.equal((await send(`${admin}/other`)).status, 404)
})

test('the kubelet sequence on the process: preStop + SIGTERM, 2 s of traffic all 200, exit 0 a quiet period after the last request', async (t, stack) => {
  const app = await startApp(t, (req, res) => { res.end(req.url) })
  const bin = fileURLToPath(new URL('../../bin/sluice', import.meta.url))
  const child = spawn(process.execPath, [bin, 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', ...stack.argv, '--drain-seconds', '1.5'], {
    env: childEnv({ USER_PORT: String(app.port), CONTAINER_CONCURRENCY: '1' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { out += c.toString() })
  const exited = new Promise<number | null>((resolve) => { child.on('exit', (c) => { resolve(c) }) })
  await until(() => out.includes('"sidecar listening"'), 5000, 'listening').catch((err: Error) => { t.comment(out); throw err })
  const line = out.split('\n').find((l) => l.includes('"sidecar listening"')) ?? '{}'
  const { serving, admin } = (JSON.parse(line) as { ports: { serving: number; admin: number } }).ports
  await until(() => out.includes('"startup probe passed"'), 5000, 'ready')
  const preStop = send(`http://127.0.0.1:${admin}/wait-for-drain`)
  child.kill('SIGTERM')
  // Traffic goes on past Knative's 1 s preStop reset and past one quiet period from the SIGTERM:
  // for 2 s from when the process logged that its drain began (on a loaded machine the signal
  // may be handled a good while after kill() returns).
  const statuses: number[] = []
  const killedMs = performance.now()
  let drainSeenMs = -1
  while (drainSeenMs < 0 || performance.now() - drainSeenMs < 2_000) {
    if (drainSeenMs < 0 && out.includes('"draining"')) drainSeenMs = performance.now()
    if (drainSeenMs < 0 && performance.now() - killedMs > 10_000) throw new Error('no "draining" log line within 10 s of SIGTERM:\n' + out)
    statuses.push((await send(`http://127.0.0.1:${serving}/r`).catch(() => ({ status: 0 }))).status)
    await sleep(100)
  }
  t.ok(statuses.length >= 10, `${statuses.length} requests sent`)
  t.same(statuses.filter((s) => s !== 200), [], 'every request after SIGTERM got 200')
  t.equal((await preStop).status, 200, 'preStop answered 200 once drained')
  t.equal(await exited, 0)
  const drained = out.split('\n').find((l) => l.includes('"drained"')) ?? '{}'
  const { drainedAfterMs, quiet } = JSON.parse(drained) as { drainedAfterMs?: number; quiet?: boolean }
  t.equal(quiet, true, 'the drain ended by a quiet period')
  t.ok((drainedAfterMs ?? 0) >= 3_000, `drained ${drainedAfterMs} ms after it began: >= the ~1.9 s of traffic + 1.5 s quiet, with slack`)
  t.notMatch(out, /drain reset/, 'the drain was never reset')
})

test('SIGTERM: the process drains and exits 0 by itself', async (t, stack) => {
  const app = await startApp(t, (_req, res) => { setTimeout(() => { res.end('slow done') }, 300) })
  const bin = fileURLToPath(new URL('../../bin/sluice', import.meta.url))
  const child = spawn(process.execPath, [bin, 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', ...stack.argv, '--drain-seconds', '0.2'], {
    env: childEnv({ USER_PORT: String(app.port), CONTAINER_CONCURRENCY: '2' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { out += c.toString() })
  await until(() => out.includes('"sidecar listening"'), 5000, 'listening').catch((err: Error) => { t.comment(out); throw err })
  const line = out.split('\n').find((l) => l.includes('"sidecar listening"')) ?? '{}'
  const port = (JSON.parse(line) as { ports: { serving: number } }).ports.serving
  const pending = send(`http://127.0.0.1:${port}/`)
  await sleep(50)
  child.kill('SIGTERM')
  const code = await new Promise<number | null>((resolve) => { child.on('exit', (c) => { resolve(c) }) })
  t.equal(code, 0)
  t.equal((await pending).body, 'slow done', 'the in-flight request finished')
  t.match(out, /"draining"/)
  t.match(out, /"sidecar stopped"/)
})
