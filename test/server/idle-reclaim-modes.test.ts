// The idle reclaimer inside a real sidecar and a real activator: it counts the requests they serve over
// real sockets, collects once after they stop and never while one is in flight, and once after start
// when they have been quiet half a second; --idle-reclaim-seconds 0 turns it off. Its tick runs on ManualTimers sharing the proxy's ManualClock.
import type { ServerResponse } from 'node:http'
import t from 'tap'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { loadSidecarConfig } from '../../src/config/sidecar-config.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { createClient, route, send as sendVia, spec, startActivator, startFakePod } from '../activator/fixtures.ts'
import { send, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'

t.test('sidecar: one collection after its requests stop, none while one is in flight', async (t) => {
  const held: ServerResponse[] = []
  const app = await startApp(t, (req, res) => { if (req.url === '/hold') held.push(res); else res.end('ok') })
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  let reclaims = 0
  const { sidecar, url } = await startSidecar(t, app.port, {}, ['--idle-reclaim-seconds', '10'], {
    clock, idleReclaim: { timers, minRequests: 5, reclaim: () => { reclaims++; return { gcMs: 0, trimMs: null } } },
  })
  for (let i = 0; i < 5; i++) t.equal((await send(url)).status, 200)
  const holding = send(`${url}/hold`)
  await until(() => held.length === 1, 5_000, 'the app to hold a request')
  await timers.advance(120_000)
  t.equal(reclaims, 0, 'two minutes with a request in flight: no collection')
  held[0]?.end('done')
  t.equal((await holding).body, 'done')
  await timers.advance(15_000)
  t.equal(reclaims, 1, 'collected once idle (10 s after the 5 s tick that saw the request finish)')
  await timers.advance(120_000)
  t.equal(reclaims, 1, 'once')
  t.equal(sidecar.reclaimer?.reclaims, 1)
})

t.test('sidecar: one collection once quiet after start, before any burst', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end('ok') })
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  let reclaims = 0
  const { sidecar, url } = await startSidecar(t, app.port, {}, [], {
    clock, idleReclaim: { timers, reclaim: () => { reclaims++; return { gcMs: 0, trimMs: null } } },
  })
  t.equal((await send(url)).status, 200)
  await timers.advance(500)
  t.equal(reclaims, 0, 'a request since start: not yet')
  await timers.advance(500)
  t.equal(reclaims, 1, 'quiet for half a second: collected once')
  await timers.advance(600_000)
  t.equal(sidecar.reclaimer?.reclaims, 1, 'and not again: one request is not a burst')
})

t.test('sidecar: --idle-reclaim-seconds 0 turns it off', async (t) => {
  const app = await startApp(t, (_req, res) => { res.end('ok') })
  const { sidecar } = await startSidecar(t, app.port, {}, ['--idle-reclaim-seconds', '0'])
  t.equal(sidecar.reclaimer, null)
  t.equal(sidecar.config.idleReclaimMs, 0)
})

t.test('--malloc-trim-addon / SLUICE_MALLOC_TRIM_ADDON must name a file (a config error at start)', async (t) => {
  t.match(loadSidecarConfig(['--malloc-trim-addon', '/nonexistent/malloc-trim.node'], {}).problems, ['config: --malloc-trim-addon / SLUICE_MALLOC_TRIM_ADDON must name the built malloc-trim.node, got "/nonexistent/malloc-trim.node"'])
  t.match(loadActivatorConfig([], { SLUICE_MALLOC_TRIM_ADDON: '/nonexistent' }).problems, [/must name the built malloc-trim\.node/])
  t.equal(loadSidecarConfig([], {}).config?.mallocTrimAddon, '', 'none by default: GC only')
})

t.test('activator: one collection after its requests stop', async (t) => {
  const pod = await startFakePod(t, (_req, res) => { res.end('hi') })
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  let reclaims = 0
  const { activator, url } = await startActivator(t, ['--source', 'api', '--idle-reclaim-seconds', '10'], {
    idleReclaim: { timers, minRequests: 5, reclaim: () => { reclaims++; return { gcMs: 0, trimMs: null } } },
    clock,
  })
  activator.registry.upsert(spec('idle', [pod.dest], 0))
  await until(() => activator.registry.lookup('default', 'idle')?.readyCount === 1, 5_000, 'the pod ready')
  const client = createClient(t)
  await timers.advance(60_000)
  t.equal(reclaims, 1, 'no requests yet: only the start-up collection')
  for (let i = 0; i < 5; i++) t.equal((await sendVia(client, url, { headers: route('idle') })).status, 200)
  await timers.advance(5_000)
  t.equal(reclaims, 1, 'not yet idle long enough')
  await timers.advance(10_000)
  t.equal(reclaims, 2, 'collected once idle')
})

t.test('activator: one collection once quiet after start, deferred by requests and by one in flight', async (t) => {
  const held: ServerResponse[] = []
  const pod = await startFakePod(t, (req, res) => { if (req.url === '/hold') held.push(res); else res.end('hi') })
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  let reclaims = 0
  const { activator, url } = await startActivator(t, ['--source', 'api'], {
    idleReclaim: { timers, reclaim: () => { reclaims++; return { gcMs: 0, trimMs: null } } },
    clock,
  })
  activator.registry.upsert(spec('quiet', [pod.dest], 0))
  await until(() => activator.registry.lookup('default', 'quiet')?.readyCount === 1, 5_000, 'the pod ready')
  const client = createClient(t)
  t.equal((await sendVia(client, url, { headers: route('quiet') })).status, 200)
  await timers.advance(500)
  t.equal(reclaims, 0, 'a request since start: not yet')
  const holding = sendVia(client, url, { path: '/hold', headers: route('quiet') })
  await until(() => held.length === 1, 5_000, 'the pod to hold a request')
  await timers.advance(5_000)
  t.equal(reclaims, 0, 'a request in flight: not while it is')
  held[0]?.end('done')
  t.equal((await holding).status, 200)
  await until(() => activator.proxyMetrics.latency.count === 2 && activator.active.count === 0, 5_000, 'the activator to count it finished')
  await timers.advance(500)
  t.equal(reclaims, 0, 'it finished since the last look: not yet')
  await timers.advance(500)
  t.equal(reclaims, 1, 'quiet for half a second: collected once')
  await timers.advance(600_000)
  t.equal(activator.reclaimer?.reclaims, 1, 'and not again: two requests are not a burst')
})
