import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { childEnv, send, sleep, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'

const KUBELET = { 'user-agent': 'kube-probe/1.30', 'k-network-probe': 'queue' }

t.test('drain: probes fail at once, traffic is still served, in-flight and queued requests finish', async (t) => {
  const hold: Array<() => void> = []
  const app = await startApp(t, (req, res) => { hold.push(() => res.end(req.url)) })
  const { url, sidecar } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, ['--drain-seconds', '0.3'])
  await until(() => sidecar.prober.isReady)
  const inFlight = send(`${url}/a`)
  const queued = send(`${url}/b`)
  await until(() => app.inFlight === 1 && sidecar.breaker?.queued === 1)
  const done = sidecar.shutdown()
  const probe = await send(url, { headers: KUBELET })
  t.equal(probe.status, 503)
  t.equal(probe.body, 'shutting down\n')
  const late = send(`${url}/late`) // arrives during the quiet period: still served, restarts it
  let finished = false
  void done.then(() => { finished = true })
  await sleep(400)
  t.notOk(finished, 'shutdown waits for queued and in-flight work')
  while (!finished) { const h = hold.shift(); if (h !== undefined) h(); await sleep(10) }
  t.same([(await inFlight).body, (await queued).body, (await late).body], ['/a', '/b', '/late'])
})

t.test('admin /wait-for-drain answers once the quiet period has passed', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end() })
  const { ports, url } = await startSidecar(t, app.port, {}, ['--drain-seconds', '0.2'])
  const started = performance.now()
  const r = await send(`http://127.0.0.1:${ports.admin}/wait-for-drain`)
  t.equal(r.status, 200)
  t.ok(performance.now() - started >= 190)
  t.equal((await send(url, { headers: KUBELET })).status, 503, 'probes fail after a drain')
  t.equal((await send(`http://127.0.0.1:${ports.admin}/other`)).status, 404)
})

t.test('SIGTERM: the process drains and exits 0 by itself', async (t) => {
  const app = await startApp(t, (_req, res) => { setTimeout(() => { res.end('slow done') }, 300) })
  const bin = fileURLToPath(new URL('../../bin/sluice', import.meta.url))
  const child = spawn(process.execPath, [bin, 'sidecar', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--drain-seconds', '0.2'], {
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
