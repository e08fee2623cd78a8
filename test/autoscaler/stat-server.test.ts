import t from 'tap'
import { request } from 'node:http'
import { WebSocket } from 'ws'
import { StatPusher } from '../../src/activator/stat-pusher.ts'
import { CLOSE_SERVICE_RESTART, StatServer, type StatConsumer } from '../../src/autoscaler/stat-server.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { encodeWireStatMessages } from '../../src/stats/stat-proto.ts'
import type { Stat } from '../../src/stats/stat.ts'

interface Got { namespace: string, name: string, stat: Stat }

class Collect implements StatConsumer {
  readonly got: Got[] = []
  #waiters: Array<() => void> = []
  onStat (namespace: string, name: string, stat: Stat): void {
    this.got.push({ namespace, name, stat })
    for (const w of this.#waiters.splice(0)) w()
  }

  async count (n: number, timeoutMs = 2000): Promise<void> {
    const end = performance.now() + timeoutMs
    while (this.got.length < n) {
      if (performance.now() > end) throw new Error(`only ${this.got.length} of ${n} stats`)
      await new Promise<void>((resolve) => { this.#waiters.push(resolve); setTimeout(resolve, 20) })
    }
  }
}

function stat (over: Partial<Stat> = {}): Stat {
  return { podName: 'activator', averageConcurrentRequests: 1, averageProxiedConcurrentRequests: 0, requestCount: 1, proxiedRequestCount: 0, processUptime: 0, timestamp: 0, ...over }
}

async function server (t: { teardown (fn: () => unknown): void }, consumer: StatConsumer): Promise<StatServer> {
  const s = new StatServer({ port: 0, consumer, clock: new ManualClock(0, 1_700_000_000_500) })
  await s.listen()
  t.teardown(() => s.close())
  return s
}

function get (port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers, agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.end()
  })
}

t.test('takes knative and json frames on one port, fills timestamps, skips bad frames and stat-less entries', async (t) => {
  const c = new Collect()
  const s = await server(t, c)
  for (const protocol of ['knative', 'json'] as const) {
    const p = new StatPusher({ url: `ws://127.0.0.1:${s.port}/any/path`, protocol })
    t.teardown(() => p.close())
    p.start()
    const before = c.got.length
    // Sent before the connection opens: held and flushed on open.
    p.send([{ namespace: 'default', name: `hello-${protocol}`, stat: stat({ averageConcurrentRequests: 2.5 }) }, { namespace: 'default', name: 'x', stat: null }])
    await c.count(before + 1)
    const last = c.got[c.got.length - 1]
    t.equal(last.name, `hello-${protocol}`)
    t.equal(last.stat.averageConcurrentRequests, 2.5)
    t.equal(last.stat.timestamp, 1_700_000_000, 'timestamp 0 -> receive time')
    p.send([{ namespace: 'default', name: 'kept', stat: stat({ timestamp: 42 }) }])
    await c.count(before + 2)
    t.equal(c.got[c.got.length - 1].stat.timestamp, 42, 'a set timestamp is kept')
  }

  const raw = new WebSocket(`ws://127.0.0.1:${s.port}/`)
  t.teardown(() => { raw.terminate() })
  await new Promise((resolve) => raw.once('open', resolve))
  raw.send(Buffer.from([0xff, 0xff, 0xff]), { binary: true })
  raw.send('{"version":9,"messages":[]}')
  raw.send('not json')
  raw.send(encodeWireStatMessages([{ namespace: 'ns', name: 'after-bad', stat: stat() }, { namespace: 'ns', name: 'nostat', stat: null }]), { binary: true })
  await c.count(5)
  t.equal(c.got[4].name, 'after-bad', 'the connection survives bad frames')
  t.equal(s.counters.badFrames, 3)
  t.equal(s.counters.skippedMessages, 1, 'stat-less entry from the raw client (the pushers drop theirs)')
})

t.test('answers kubelet probes with 200 and other plain requests with 426', async (t) => {
  const s = await server(t, new Collect())
  t.equal(await get(s.port, { 'user-agent': 'kube-probe/1.30' }), 200)
  t.equal(await get(s.port, { 'k-kubelet-probe': 'queue' }), 200)
  t.equal(await get(s.port, {}), 426)
})

t.test('closing sends 1012 and a pusher reconnects to the next server on the same port', async (t) => {
  const c = new Collect()
  const s1 = new StatServer({ port: 0, consumer: c })
  const port = await s1.listen()
  const p = new StatPusher({ url: `ws://127.0.0.1:${port}/`, protocol: 'knative' })
  t.teardown(() => p.close())
  p.start()
  const raw = new WebSocket(`ws://127.0.0.1:${port}/`)
  const closeCode = new Promise<number>((resolve) => raw.once('close', (code) => { resolve(code) }))
  await new Promise((resolve) => raw.once('open', resolve))
  const end = performance.now() + 2000
  while (!p.connected && performance.now() < end) await new Promise((resolve) => setTimeout(resolve, 10))
  await s1.close()
  t.equal(await closeCode, CLOSE_SERVICE_RESTART)
  const s2 = new StatServer({ port, consumer: c })
  await s2.listen()
  t.teardown(() => s2.close())
  p.send([{ namespace: 'default', name: 'again', stat: stat() }])
  await c.count(1)
  t.equal(c.got[0].name, 'again')
})
