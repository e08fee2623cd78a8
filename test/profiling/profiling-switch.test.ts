// Knative's switch for runtime profiling, in both modes: OBSERVABILITY_CONFIG runtime.profiling
// (queue-proxy's json.Unmarshal) and config-observability's runtime-profiling (the activator, with
// Knative's Validate), nothing listening while off, loopback by default, --profiling-host/-port,
// and the activator switching it while running when the mounted ConfigMap changes.
import { writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { Activator } from '../../src/activator/activator-server.ts'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { loadSidecarConfig } from '../../src/config/sidecar-config.ts'
import { Sidecar } from '../../src/sidecar/sidecar-server.ts'
import { parseRuntimeProfiling, runtimeProfilingOf } from '../../src/config/profiling-config.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { configMapDir } from '../activator/fixtures.ts'
import { send, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'

/** A port nothing listens on (bound, then released). */
async function unusedPort (): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => { s.listen(0, '127.0.0.1', resolve) })
  const addr = s.address()
  const port = addr !== null && typeof addr === 'object' ? addr.port : 0
  await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
  return port
}

/** 'refused' when nothing listens on the port, else 'open'. */
function probe (port: number): Promise<'refused' | 'open'> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve('open') })
    socket.once('error', (err: NodeJS.ErrnoException) => { if (err.code === 'ECONNREFUSED') resolve('refused'); else reject(err) })
  })
}

t.test('OBSERVABILITY_CONFIG runtime.profiling as the queue-proxy unmarshals it', async (t) => {
  const cases: Array<[string, boolean, RegExp | null]> = [
    ['{}', false, null],
    ['{"runtime":{"profiling":"enabled"}}', true, null],
    ['{"runtime":{"profiling":"disabled"}}', false, null],
    ['{"runtime":{"Profiling":"enabled"}}', true, null], // encoding/json matches keys case-insensitively
    ['{"runtime":{"profiling":"Enabled"}}', false, null], // ...but not values: only "enabled" turns it on
    ['{"runtime":{"profiling":"enabled","exportInterval":0}}', true, null],
    ['{"runtime":{"profiling":null}}', false, null],
    ['{"runtime":{"profiling":true}}', false, /OBSERVABILITY_CONFIG\.runtime\.profiling must be a string \("enabled" or "disabled"\), got a boolean \(true\)/],
  ]
  for (const [json, want, problem] of cases) {
    const loaded = loadSidecarConfig([], { OBSERVABILITY_CONFIG: json })
    if (problem === null) {
      t.same(loaded.problems, [], json)
      t.equal(loaded.config?.profiling, want, `${json}: ${want ? 'on' : 'off'}`)
    } else {
      t.match(loaded.problems, [problem], `${json}: a config error`)
    }
  }
  t.equal(runtimeProfilingOf(null, []), false, 'no runtime object: off')
  const defaults = loadSidecarConfig([], {}).config
  t.same(defaults?.profilingListen, { host: '127.0.0.1', port: 8008 }, 'loopback:8008 by default')
  t.same(loadSidecarConfig(['--profiling-host', ''], { PROFILING_PORT: '18008' }).config?.profilingListen, { host: '', port: 18008 }, 'PROFILING_PORT (Knative\'s env) and --profiling-host')
  t.match(loadSidecarConfig([], { PROFILING_PORT: 'x' }).problems, ['config: PROFILING_PORT must be an integer between 0 and 65535, got "x"'])
})

t.test('config-observability runtime-profiling as knative.dev/pkg observability/runtime validates it', async (t) => {
  const cases: Array<[Record<string, string>, boolean, RegExp | null]> = [
    [{}, false, null],
    [{ 'runtime-profiling': 'enabled' }, true, null],
    [{ 'runtime-profiling': ' enabled\n' }, true, null], // configmap.As trims strings
    [{ 'runtime-profiling': 'disabled' }, false, null],
    [{ 'runtime-profiling': 'true' }, false, /config-observability: runtime-profiling: unsupported profile setting "true"/],
    [{ 'runtime-profiling': '' }, false, /unsupported profile setting ""/],
  ]
  for (const [data, want, problem] of cases) {
    const problems: string[] = []
    t.equal(parseRuntimeProfiling(new Map(Object.entries(data)), problems), want, JSON.stringify(data))
    if (problem === null) t.same(problems, [])
    else t.match(problems, [problem])
  }
  const dir = configMapDir(t, { 'runtime-profiling': 'on' })
  t.match(loadActivatorConfig(['--observability-config-dir', dir], {}).problems, [/unsupported profile setting "on"/], 'fatal at the activator\'s start, as Knative\'s')
})

t.test('sidecar: off by default, nothing listens; enabled, the server on loopback', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end('ok') })
  const port = await unusedPort()
  const off = await startSidecar(t, app.port, {}, ['--profiling-port', String(port)])
  t.equal(off.ports.profiling, null)
  t.equal(await probe(port), 'refused', 'nothing listens on the profiling port')
  t.equal(off.sidecar.profiling.server, null)
  await off.sidecar.close()

  const on = await startSidecar(t, app.port, { OBSERVABILITY_CONFIG: '{"runtime":{"profiling":"enabled"}}' }, ['--profiling-port', String(port)])
  t.equal(on.ports.profiling, port, 'listens on --profiling-port')
  t.equal(on.sidecar.profiling.server?.address?.address, '127.0.0.1', 'on loopback')
  const index = await send(`http://127.0.0.1:${port}/debug/pprof/`)
  t.equal(index.status, 200)
  t.equal((await send(on.url)).body, 'ok', 'the proxy serves alongside')
  await on.sidecar.close()
  t.equal(await probe(port), 'refused', 'closed with the sidecar')
})

t.test('sidecar: a profiling port already taken fails the start', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end('ok') })
  const taken = createServer()
  await new Promise<void>((resolve) => { taken.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { taken.close() })
  const addr = taken.address()
  const port = addr !== null && typeof addr === 'object' ? addr.port : 0
  const loaded = loadSidecarConfig(['--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--metrics-port', '0', '--profiling-port', String(port)], { USER_PORT: String(app.port), OBSERVABILITY_CONFIG: '{"runtime":{"profiling":"enabled"}}' })
  if (loaded.config === null) { t.fail(loaded.problems.join('; ')); return }
  const sidecar = new Sidecar(loaded.config, [], silentLogger())
  t.teardown(() => sidecar.close())
  await t.rejects(sidecar.listen(), { code: 'EADDRINUSE' }, 'listen() fails (the CLI then exits 1, as queue-proxy exits when a server fails)')
})

t.test('activator: runtime-profiling switches the server while running', async (t) => {
  const port = await unusedPort()
  const dir = configMapDir(t, { 'runtime-profiling': 'disabled' })
  const loaded = loadActivatorConfig(['--source', 'api', '--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0', '--observability-config-dir', dir, '--profiling-port', String(port)], { POD_NAME: 'activator-test' })
  t.same(loaded.problems, [])
  if (loaded.config === null) return
  const timers = new ManualTimers(new ManualClock())
  const activator = new Activator(loaded.config, silentLogger(), { timers, configDirReloadMs: 1_000 })
  const ports = await activator.listen()
  t.teardown(() => activator.close())
  t.equal(ports.profiling, null)
  t.equal(await probe(port), 'refused', 'disabled: nothing listens')

  writeFileSync(join(dir, 'runtime-profiling'), 'enabled')
  await timers.advance(999)
  t.equal(activator.profiling.enabled, false, 'not before the next re-read')
  await timers.advance(1)
  await until(() => activator.profiling.enabled, 5_000, 'profiling on')
  t.equal(activator.profiling.port, port)
  t.equal((await send(`http://127.0.0.1:${port}/debug/pprof/`)).status, 200, 'enabled: the index answers')

  writeFileSync(join(dir, 'runtime-profiling'), 'sometimes')
  await timers.advance(1_000)
  t.equal(activator.profiling.enabled, true, 'an invalid update is ignored: still on (Knative logs it and keeps the flag)')
  t.equal((await send(`http://127.0.0.1:${port}/debug/pprof/`)).status, 200)

  writeFileSync(join(dir, 'runtime-profiling'), 'disabled')
  await timers.advance(1_000)
  await until(() => !activator.profiling.enabled, 5_000, 'profiling off')
  t.equal(await probe(port), 'refused', 'disabled again: the port is closed')
})

t.test('activator: OBSERVABILITY_CONFIG runtime.profiling at start', async (t) => {
  const loaded = loadActivatorConfig(['--source', 'api', '--host', '127.0.0.1', '--port', '0', '--h2c-port', '0', '--admin-port', '0', '--metrics-port', '0', '--profiling-port', '0'], { POD_NAME: 'activator-test', OBSERVABILITY_CONFIG: '{"runtime":{"profiling":"enabled"}}' })
  t.same(loaded.problems, [])
  if (loaded.config === null) return
  const activator = new Activator(loaded.config, silentLogger())
  const ports = await activator.listen()
  t.teardown(() => activator.close())
  t.ok(ports.profiling !== null && ports.profiling > 0, 'listening')
  t.equal((await send(`http://127.0.0.1:${ports.profiling ?? 0}/debug/pprof/cmdline`)).status, 200)
})
