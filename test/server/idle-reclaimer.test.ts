// IdleReclaimer on a ManualClock: one collection after traffic stops (idle long enough, enough requests
// since the last), none while requests flow or one is in flight, none after a handful of requests; and
// reduceMemory itself: V8's heap shrinks, and no `gc` is left on the global.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getHeapStatistics } from 'node:v8'
import t from 'tap'
import { loadMallocTrim } from '../../src/server/malloc-trim.ts'
import { IdleReclaimer, STARTUP_ATTEMPTS } from '../../src/server/idle-reclaimer.ts'
import { reduceMemory } from '../../src/server/reduce-memory.ts'
import { ManualClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { captureLogger } from '../activator/sources/capture-logger.ts'
import { ManualTimers } from '../../src/shared/timers.ts'

/** Counters a test moves by hand, as requests would. */
class FakeProxy {
  finished = 0
  inFlight = 0
  readonly activity = { finished: (): number => this.finished, inFlight: (): number => this.inFlight }
}

function setup (minRequests = 100): { proxy: FakeProxy, timers: ManualTimers, reclaimer: IdleReclaimer, calls: { n: number } } {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const proxy = new FakeProxy()
  const calls = { n: 0 }
  const reclaimer = new IdleReclaimer({
    activity: proxy.activity, idleMs: 10_000, tickMs: 1_000, minRequests, clock, timers, logger: silentLogger(),
    reclaim: () => { calls.n++; return { gcMs: 1, trimMs: null } },
    rssBytes: () => 100 * 2 ** 20,
  })
  reclaimer.start()
  return { proxy, timers, reclaimer, calls }
}

t.test('collects once when traffic stops, idleMs after the tick that last saw a request', async (t) => {
  const { proxy, timers, calls } = setup()
  proxy.finished = 500 // a burst
  await timers.advance(1_000) // the tick that sees it: idle from here
  await timers.advance(9_000)
  t.equal(calls.n, 0, 'not before idleMs')
  await timers.advance(1_000)
  t.equal(calls.n, 1, 'once idle for idleMs')
  await timers.advance(600_000)
  t.equal(calls.n, 1, 'and only once: idle with nothing new is not collected again')
  proxy.finished += 100 // the next burst
  await timers.advance(11_000)
  t.equal(calls.n, 2, 'the next burst arms it again')
})

t.test('never while requests flow', async (t) => {
  const { proxy, timers, calls } = setup()
  for (let s = 0; s < 600; s++) { // ten minutes of one request a second
    proxy.finished++
    await timers.advance(1_000)
  }
  t.equal(calls.n, 0, 'a request between every two ticks: never idle')
  await timers.advance(11_000)
  t.equal(calls.n, 1, 'collected once it stopped')
})

t.test('never while a request is in flight (a long request, a websocket), however long', async (t) => {
  const { proxy, timers, calls } = setup()
  proxy.finished = 1_000
  proxy.inFlight = 1
  await timers.advance(3_600_000)
  t.equal(calls.n, 0)
  proxy.inFlight = 0 // it ends after the tick that last saw it
  await timers.advance(9_000)
  t.equal(calls.n, 0, 'idle counts from the last tick that saw it in flight')
  await timers.advance(1_000)
  t.equal(calls.n, 1)
})

t.test('not after fewer than minRequests since the last collection (odd requests, probes)', async (t) => {
  const { proxy, timers, calls } = setup(100)
  for (let i = 0; i < 99; i++) {
    proxy.finished++
    await timers.advance(60_000) // one request a minute: idle after each
  }
  t.equal(calls.n, 0, '99 requests: nothing to give back')
  proxy.finished++
  await timers.advance(60_000)
  t.equal(calls.n, 1, 'the 100th arms it')
})

function setupStartup (startupQuietMs: number | undefined): { proxy: FakeProxy, timers: ManualTimers, calls: { n: number } } {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const proxy = new FakeProxy()
  const calls = { n: 0 }
  new IdleReclaimer({
    activity: proxy.activity, idleMs: 60_000, tickMs: 5_000, minRequests: 100, startupQuietMs, clock, timers, logger: silentLogger(),
    reclaim: () => { calls.n++; return { gcMs: 1, trimMs: null } },
    rssBytes: () => 100 * 2 ** 20,
  }).start()
  return { proxy, timers, calls }
}

t.test('startupQuietMs: one collection once quiet that long after start, whatever the request count', async (t) => {
  const { proxy, timers, calls } = setupStartup(1_000)
  proxy.finished = 2 // the first requests of a cold start
  await timers.advance(1_000)
  t.equal(calls.n, 0, 'requests since start: not yet')
  proxy.inFlight = 1
  await timers.advance(1_000)
  t.equal(calls.n, 0, 'one in flight: not yet')
  proxy.inFlight = 0 // it finishes
  proxy.finished++
  await timers.advance(1_000)
  t.equal(calls.n, 0, 'it finished since the last look: not yet')
  await timers.advance(1_000)
  t.equal(calls.n, 1, 'quiet for startupQuietMs: collected')
  await timers.advance(600_000)
  t.equal(calls.n, 1, 'once: 2 requests are below minRequests for the idle collection')
})

t.test('startupQuietMs: given up after STARTUP_ATTEMPTS looks that saw traffic; the burst\'s collection follows', async (t) => {
  const { proxy, timers, calls } = setupStartup(1_000)
  for (let s = 0; s < STARTUP_ATTEMPTS + 5; s++) {
    proxy.finished += 10
    await timers.advance(1_000)
  }
  t.equal(calls.n, 0, 'busy from the first second')
  await timers.advance(5_000)
  t.equal(calls.n, 0, 'no start-up collection once given up')
  await timers.advance(60_000)
  t.equal(calls.n, 1, 'the idle collection after the burst')
})

t.test('startupQuietMs: off by default', async (t) => {
  const { timers, calls } = setupStartup(undefined)
  await timers.advance(600_000)
  t.equal(calls.n, 0)
})

t.test('a runtime without the gc extension: logged once, then off', async (t) => {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const proxy = new FakeProxy()
  let calls = 0
  const reclaimer = new IdleReclaimer({
    activity: proxy.activity, idleMs: 10_000, tickMs: 1_000, minRequests: 1, clock, timers, logger: silentLogger(),
    reclaim: () => { calls++; throw new Error('no gc') },
  })
  reclaimer.start()
  proxy.finished = 5
  await timers.advance(20_000)
  t.equal(calls, 1)
  t.equal(timers.size, 0, 'its tick is cancelled')
})

t.test('stop() cancels its tick', async (t) => {
  const { timers, reclaimer } = setup()
  t.equal(timers.size, 1)
  reclaimer.stop()
  t.equal(timers.size, 0)
})

t.test('reduceMemory shrinks the V8 heap a burst grew and leaves no gc on the global', async (t) => {
  t.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'this test runs without --expose-gc')
  let keep: Array<{ i: number, s: string }> | null = []
  for (let i = 0; i < 600_000; i++) keep.push({ i, s: `item-${i}` }) // tens of MB of young and old objects
  const grown = getHeapStatistics().total_heap_size
  keep = null
  const r = reduceMemory()
  const after = getHeapStatistics().total_heap_size
  t.ok(r.gcMs >= 0)
  t.ok(after < grown - 20 * 2 ** 20, `committed heap ${(grown / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MB`)
  t.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'still no global gc')
  t.equal(keep, null)
})

t.test('the default tick is at most 5 s: with a minute\'s wait, a collection comes 60-65 s after the last request', async (t) => {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const proxy = new FakeProxy()
  let calls = 0
  const reclaimer = new IdleReclaimer({ activity: proxy.activity, idleMs: 60_000, minRequests: 1, clock, timers, logger: silentLogger(), reclaim: () => { calls++; return { gcMs: 0, trimMs: null } } })
  reclaimer.start()
  await timers.advance(1_000)
  proxy.finished = 10 // the last request, 1 s in
  await timers.advance(59_999)
  t.equal(calls, 0, 'not within 60 s of it')
  await timers.advance(5_000)
  t.equal(calls, 1, 'by 65 s after it')
  reclaimer.stop()
})

t.test('the malloc-trim addon returns the free pages glibc keeps after the GC', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-native-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  let path: string
  try {
    path = execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/build-native.mjs', import.meta.url)), dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
  } catch (err) {
    t.comment(`skipped: no C compiler or N-API header here: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`)
    t.pass('nothing to build the addon with')
    return
  }
  const trim = loadMallocTrim(path)
  // 30,000 malloc'd 4 KB buffers, 1 in 10 kept: after the GC the other 90% are free chunks among live ones.
  let buffers: Array<Buffer | null> | null = []
  for (let i = 0; i < 30_000; i++) buffers.push(Buffer.allocUnsafeSlow(4096 + (i % 64)))
  for (let i = 0; i < buffers.length; i++) if (i % 10 !== 0) buffers[i] = null
  const gcOnly = reduceMemory(null)
  t.equal(gcOnly.trimMs, null)
  const afterGc = process.memoryUsage.rss()
  const withTrim = reduceMemory(trim)
  const afterTrim = process.memoryUsage.rss()
  t.ok(withTrim.trimMs !== null && withTrim.trimMs >= 0)
  t.ok(afterTrim < afterGc - 50 * 2 ** 20, `RSS ${(afterGc / 2 ** 20).toFixed(1)} MB after the GC -> ${(afterTrim / 2 ** 20).toFixed(1)} MB after malloc_trim`)
  t.equal(buffers.filter((b) => b !== null).length, 3_000, 'the live ones stay')
  buffers = null
  t.throws(() => loadMallocTrim(join(dir, 'missing.node')), { code: 'ERR_DLOPEN_FAILED' }, 'a path that is not the addon throws')
})

t.test('an addon that does not load: logged once, the reclaimer goes on with the GC only', async (t) => {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const proxy = new FakeProxy()
  const { logger, lines } = captureLogger()
  const reclaimer = new IdleReclaimer({ activity: proxy.activity, idleMs: 10_000, tickMs: 1_000, minRequests: 1, clock, timers, logger, mallocTrimAddon: '/nonexistent/malloc-trim.node' })
  reclaimer.start()
  for (const n of [5, 10]) {
    proxy.finished = n
    await timers.advance(12_000)
  }
  t.equal(reclaimer.reclaims, 2, 'both collections ran')
  t.same(lines.filter((l) => l.level === 40).map((l) => l.msg), ['idle: malloc-trim addon does not load; GC only'], 'one warning')
  t.same(lines.filter((l) => l.msg === 'idle: memory reclaimed').map((l) => l.trimMs), [null, null], 'each collection logged, without a trim')
  reclaimer.stop()
})
