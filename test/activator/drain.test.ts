import t from 'tap'
import { createClient, delayed, route, send, sleep, spec, startActivator, startFakePod, until } from './fixtures.ts'

t.test('SIGTERM path: probes fail at once, buffered and in-flight requests finish, then the listener closes', async (t) => {
  const { activator, url } = await startActivator(t, ['--drain-seconds', '0.3'])
  const slow = await startFakePod(t, delayed(400))
  const late = await startFakePod(t, delayed(0))
  activator.registry.upsert(spec('busy', [slow.dest], 1))
  activator.registry.upsert(spec('cold', [], 1))
  await until(() => activator.registry.lookup('default', 'busy')?.readyCount === 1)
  const client = createClient(t)
  const inFlight = send(client, url, { headers: route('busy') })
  const buffered = send(client, url, { headers: route('cold') })
  await until(() => slow.inFlight === 1 && activator.registry.lookup('default', 'cold')?.throttler.queued === 1)

  const start = performance.now()
  let stopped = false
  const shutdown = activator.shutdown().then(() => { stopped = true })
  const probe = await send(client, url, { headers: { 'user-agent': 'kube-probe/1.30' } })
  t.equal(probe.status, 500, 'kubelet probe fails at once')
  t.equal(probe.body, 'received SIGTERM from kubelet\n')
  // Routing still lags behind the probe: traffic that arrives during the quiet period is served.
  t.equal((await send(client, url, { headers: route('busy') })).status, 200)
  // The buffered request is finished too once its revision gets an endpoint.
  activator.registry.upsert(spec('cold', [late.dest], 1))
  t.equal((await inFlight).status, 200)
  t.equal((await buffered).status, 200)
  await shutdown
  t.ok(stopped)
  t.ok(performance.now() - start >= 290, 'not before the quiet period')
  await t.rejects(send(client, url, { headers: route('busy') }), 'listener closed')
})

t.test('shutdown waits for a buffered request until its timeout at most', async (t) => {
  const { activator, url } = await startActivator(t, ['--drain-seconds', '0', '--activation-timeout', '0.5'])
  activator.registry.upsert(spec('never', [], 1))
  const client = createClient(t)
  const buffered = send(client, url, { headers: route('never') })
  await until(() => activator.registry.lookup('default', 'never')?.throttler.queued === 1)
  await sleep(10)
  const start = performance.now()
  await activator.shutdown()
  t.equal((await buffered).status, 504)
  t.ok(performance.now() - start < 1500, 'bounded by the revision timeout')
})
