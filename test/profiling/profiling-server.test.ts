// The profiling server over real sockets: each endpoint returns a profile Chrome DevTools can open
// (parsed here: a .cpuprofile's nodes and samples, a .heapsnapshot's meta and arrays, a
// .heapprofile's call tree), one profile at a time, a client that leaves frees the slot, bad input
// is refused. Timed profiles end on ManualTimers, so nothing here waits for seconds to pass.
import { request } from 'node:http'
import t, { type Test } from 'tap'
import { ManualClock } from '../../src/shared/clock.ts'
import { ANSWER_CODES, ERROR_CODE_HEADER } from '../../src/shared/errors.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { ManualTimers } from '../../src/shared/timers.ts'
import { MAX_PROFILE_SECONDS, ProfilingServer } from '../../src/profiling/profiling-server.ts'
import { send, until } from '../helpers/sidecar-fixture.ts'

async function startServer (t: Test): Promise<{ server: ProfilingServer, timers: ManualTimers, url: string }> {
  const clock = new ManualClock()
  const timers = new ManualTimers(clock)
  const server = new ProfilingServer({ host: '127.0.0.1', port: 0, mode: 'test', logger: silentLogger(), timers, clock })
  const port = await server.listen()
  t.teardown(() => { server.close() })
  return { server, timers, url: `http://127.0.0.1:${port}/debug/pprof/` }
}

t.test('the index lists the profiles; cmdline is the command line', async (t) => {
  const { url } = await startServer(t)
  const index = await send(url)
  t.equal(index.status, 200)
  t.match(index.headers['content-type'], /^text\/html/)
  for (const name of ['profile?seconds=N', 'heap', 'heapprofile?seconds=N', 'cmdline']) t.ok(index.body.includes(name), `lists ${name}`)
  t.equal((await send(url.slice(0, -1))).status, 200, '/debug/pprof without the slash too')
  const cmdline = await send(`${url}cmdline`)
  t.same(cmdline.body.split('\0'), process.argv)
})

t.test('a CPU profile of N seconds is a .cpuprofile', async (t) => {
  const { server, timers, url } = await startServer(t)
  const reply = send(`${url}profile?seconds=5`)
  await until(() => server.running === 'cpu' && timers.size === 1, 5_000, 'the profile to start')
  await timers.advance(4_999)
  t.equal(server.running, 'cpu', 'still running before its N seconds')
  await timers.advance(1)
  const r = await reply
  t.equal(r.status, 200)
  t.match(r.headers['content-disposition'], /^attachment; filename="sluice-test-\d+-[\dT-]+Z\.cpuprofile"$/)
  const profile = JSON.parse(r.body) as { nodes: Array<{ id: number, callFrame: { functionName: string } }>, startTime: number, endTime: number, samples: number[], timeDeltas: number[] }
  t.ok(profile.nodes.length > 0 && profile.nodes.every((n) => typeof n.id === 'number' && typeof n.callFrame.functionName === 'string'), 'a call tree')
  t.ok(profile.endTime >= profile.startTime, 'start and end times')
  t.equal(profile.samples.length, profile.timeDeltas.length, 'samples with their time deltas')
  t.equal(server.running, null, 'the slot is free again')
})

t.test('a sampling heap profile of N seconds is a .heapprofile', async (t) => {
  const { server, timers, url } = await startServer(t)
  const reply = send(`${url}heapprofile?seconds=2`)
  await until(() => server.running === 'heap-sampling' && timers.size === 1, 5_000, 'the profile to start')
  const keep: unknown[] = []
  for (let i = 0; i < 2_000; i++) keep.push({ i, s: 'x'.repeat(100 + (i % 50)) }) // something to sample
  await timers.advance(2_000)
  const r = await reply
  t.equal(r.status, 200)
  t.match(r.headers['content-disposition'], /\.heapprofile"$/)
  const profile = JSON.parse(r.body) as { head: { callFrame: { functionName: string }, children: unknown[], selfSize: number }, samples: Array<{ size: number }> }
  t.equal(typeof profile.head.callFrame.functionName, 'string', 'a call tree')
  t.ok(Array.isArray(profile.head.children))
  t.ok(Array.isArray(profile.samples) && profile.samples.length > 0, 'samples')
  t.ok(keep.length > 0)
})

t.test('a heap snapshot is a .heapsnapshot, streamed', async (t) => {
  const { server, url } = await startServer(t)
  const r = await send(`${url}heap`)
  t.equal(r.status, 200)
  t.equal(r.headers['transfer-encoding'], 'chunked', 'streamed, not sized up front')
  t.match(r.headers['content-disposition'], /\.heapsnapshot"$/)
  const snapshot = JSON.parse(r.body) as { snapshot: { meta: { node_fields: string[] }, node_count: number }, nodes: number[], strings: string[] }
  t.ok(snapshot.snapshot.meta.node_fields.includes('name'), 'meta')
  t.equal(snapshot.nodes.length, snapshot.snapshot.node_count * snapshot.snapshot.meta.node_fields.length, 'every node')
  t.ok(snapshot.strings.includes('ProfilingServer'), 'the heap of this process')
  t.equal(server.running, null)
})

t.test('one profile at a time: others get 409 with Retry-After until it ends', async (t) => {
  const { server, timers, url } = await startServer(t)
  const first = send(`${url}profile?seconds=30`)
  await until(() => server.running === 'cpu' && timers.size === 1, 5_000, 'the profile to start')
  await timers.advance(10_000)
  for (const path of ['profile?seconds=1', 'heap', 'heapprofile']) {
    const r = await send(url + path)
    t.equal(r.status, 409, `${path} refused`)
    t.equal(r.headers[ERROR_CODE_HEADER], ANSWER_CODES.profilingBusy)
    t.equal(r.headers['retry-after'], '20', 'the seconds left')
    t.match(r.body, /a cpu profile is being taken; one at a time/)
  }
  t.equal((await send(url)).status, 200, 'the index is not a profile')
  await timers.advance(20_000)
  t.equal((await first).status, 200, 'the first one completes')
  const again = send(`${url}heapprofile?seconds=1`)
  await until(() => server.running === 'heap-sampling' && timers.size === 1, 5_000, 'the next profile to start')
  await timers.advance(1_000)
  t.equal((await again).status, 200, 'the next one is taken')
})

t.test('a client that leaves ends its profile and frees the slot', async (t) => {
  const { server, timers, url } = await startServer(t)
  for (const path of ['profile?seconds=60', 'heapprofile?seconds=60']) {
    const controller = new AbortController()
    const gone = send(url + path, { signal: controller.signal }).catch((err: unknown) => err)
    await until(() => server.running !== null && timers.size === 1, 5_000, 'the profile to start')
    controller.abort()
    t.match(await gone, { name: 'AbortError' })
    await until(() => server.running === null, 5_000, 'the slot to be freed')
    t.equal(timers.size, 0, `${path}: its timer is cancelled`)
  }
  const next = send(`${url}profile?seconds=1`)
  await until(() => server.running === 'cpu' && timers.size === 1, 5_000, 'a new profile')
  await timers.advance(1_000)
  t.equal((await next).status, 200)
})

t.test('a heap snapshot its client leaves frees the slot', async (t) => {
  const { server, url } = await startServer(t)
  await new Promise<void>((resolve, reject) => {
    const req = request(`${url}heap`, { agent: false }, (res) => {
      res.once('data', () => { req.destroy(); resolve() }) // gone after the first chunk
    })
    req.on('error', (err) => { if (!req.destroyed) reject(err) })
    req.end()
  })
  await until(() => server.running === null, 5_000, 'the slot to be freed')
  t.equal((await send(`${url}heap`)).status, 200, 'the next snapshot is taken')
})

t.test('bad requests are refused with a reason', async (t) => {
  const { server, url } = await startServer(t)
  const cases: Array<[string, string, number, string, RegExp]> = [
    ['GET', 'profile?seconds=0', 400, ANSWER_CODES.profilingBadRequest, /seconds must be an integer from 1 to 300, got "0"/],
    ['GET', `profile?seconds=${MAX_PROFILE_SECONDS + 1}`, 400, ANSWER_CODES.profilingBadRequest, /got "301"/],
    ['GET', 'heapprofile?seconds=1.5', 400, ANSWER_CODES.profilingBadRequest, /got "1\.5"/],
    ['GET', 'profile?seconds=abc', 400, ANSWER_CODES.profilingBadRequest, /got "abc"/],
    ['GET', 'goroutine', 404, ANSWER_CODES.profilingNotFound, /no profile "goroutine" in Node/],
    ['GET', '../metrics', 404, ANSWER_CODES.profilingNotFound, /not found/],
    ['POST', 'profile', 405, ANSWER_CODES.profilingMethodNotAllowed, /POST not allowed: GET only/],
  ]
  for (const [method, path, status, code, body] of cases) {
    const r = await send(path === '../metrics' ? url.replace('/debug/pprof/', '/metrics') : url + path, { method })
    t.equal(r.status, status, `${method} ${path}: ${status}`)
    t.equal(r.headers[ERROR_CODE_HEADER], code)
    t.match(r.body, body)
  }
  t.equal(server.running, null, 'no profile started')
})
