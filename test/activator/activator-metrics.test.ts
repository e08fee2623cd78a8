// ActivatorMetrics on its own: the per-revision families rendered from a registry of real revisions
// (endpoints by probe state, capacity, in flight, queued), rebuilt on refresh() and not between.
import t from 'tap'
import { ActivatorMetrics } from '../../src/activator/activator-metrics.ts'
import { RevisionRegistry } from '../../src/activator/revision-registry.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { ProxyMetrics } from '../../src/stats/proxy-metrics.ts'
import { createClient, route, send, spec, startFakePod, until } from './fixtures.ts'
import { serve, unitContext } from './revision-fixture.ts'

t.test('renders each revision\'s endpoints, capacity, in flight and queued; a scrape between refreshes sees the last render', async (t) => {
  const u = await unitContext(t)
  const ready = await startFakePod(t)
  const notReady = await startFakePod(t, undefined, false)
  const registry = new RevisionRegistry(() => u.deps(), { index: 0, count: 1 }, silentLogger())
  t.teardown(() => { registry.close() })
  const metrics = new ActivatorMetrics(u.activator.reporter, registry, new ProxyMetrics())
  t.notMatch(metrics.snapshot().prometheus.toString(), 'sluice_activator_endpoints', 'no revisions: no per-revision families')

  registry.upsert(spec('a', [ready.dest], 2))
  registry.upsert(spec('b', [notReady.dest], 0, { namespace: 'ns"x' }))
  await until(() => registry.lookup('default', 'a')?.readyCount === 1 && notReady.probes > 0, 3000, 'probes')
  // A request to b waits: its only endpoint fails its probe.
  const b = registry.lookup('ns"x', 'b')
  const url = await serve(t, (req, res) => { b?.proxy.handle(req, res) })
  const reply = send(createClient(t), url, { headers: route('b') })
  await until(() => b?.throttler.queued === 1, 3000, 'buffered')

  const stale = metrics.snapshot().prometheus.toString()
  t.notMatch(stale, 'revision="a"', 'not re-rendered until refresh')
  metrics.refresh(0)
  const text = metrics.snapshot().prometheus.toString()
  const a = 'namespace="default",revision="a"'
  const bl = 'namespace="ns\\"x",revision="b"'
  for (const line of [
    `sluice_activator_endpoints{${a},state="probing"} 0`,
    `sluice_activator_endpoints{${a},state="ready"} 1`,
    `sluice_activator_endpoints{${a},state="failed"} 0`,
    `sluice_activator_capacity{${a}} 2`,
    `sluice_activator_queued_requests{${a}} 0`,
    `sluice_activator_endpoints{${bl},state="probing"} 1`,
    `sluice_activator_endpoints{${bl},state="ready"} 0`,
    `sluice_activator_capacity{${bl}} 0`,
    `sluice_activator_in_flight_requests{${bl}} 0`,
    `sluice_activator_queued_requests{${bl}} 1`,
    `sluice_activator_cold_starts_abandoned_total{${bl}} 0`,
  ]) t.ok(text.split('\n').includes(line), line)
  t.equal(text.split('\n').filter((l) => l === '# TYPE sluice_activator_endpoints gauge').length, 1, 'one header per family')
  t.equal(metrics.snapshot().protobuf, null, 'no single Stat: no protobuf form')

  notReady.probeOk = true
  t.equal((await reply).status, 200)
  await until(() => b?.throttler.inFlight === 0, 3000, 'done')
  metrics.refresh(1)
  const after = metrics.snapshot().prometheus.toString().split('\n')
  t.ok(after.includes(`sluice_activator_queued_requests{${bl}} 0`))
  t.ok(after.includes(`sluice_activator_capacity{${bl}} +Inf`), 'CC 0 with a ready endpoint: unbounded')
  t.ok(after.some((l) => l.startsWith(`sluice_activator_last_cold_start_timestamp_seconds{${bl},event="forwarded"} `)), 'the cold start\'s forward time')
  t.ok(after.includes(`sluice_activator_cold_start_seconds_count{${bl}} 1`), 'one cold start in the histogram')
})
