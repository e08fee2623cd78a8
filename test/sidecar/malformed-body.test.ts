// A request body that turns out malformed (here a chunk size of `-5`) after its head was handed on
// must end the exchange at once: the client gets 400, the concurrency slot and the queue entry are
// freed, whichever path the request took (queued, a fresh upstream connection being opened, a
// pooled one). Issue 13, defect 1: five such requests at CC=1 used to block the revision.
import { connect } from 'node:net'
import t from 'tap'
import { send, startApp, startSidecar, until } from '../helpers/sidecar-fixture.ts'
import { createClient, route, send as sendThrough, spec, startActivator, startFakePod } from '../activator/fixtures.ts'
import { ALL_STACKS, stackTests } from '../helpers/stacks.ts'

const test = stackTests(t, 'sidecar', ALL_STACKS)
const activatorTest = stackTests(t, 'activator', ALL_STACKS)

const MALFORMED = 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n'
const MALFORMED_LATE = 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n'

/** Writes `bytes` in one write and resolves with what came back by the time the server closed (or 10 s). */
function rawExchange (port: number, bytes: string, extra: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve) => {
    let request = bytes
    for (const [k, v] of Object.entries(extra)) request = request.replace('Host: x\r\n', `Host: x\r\n${k}: ${v}\r\n`)
    const s = connect(port, '127.0.0.1', () => { s.write(request) })
    let d = ''
    const timer = setTimeout(() => { s.destroy(); resolve(d) }, 10_000)
    s.on('data', (c: Buffer) => { d += c.toString('latin1') })
    s.on('error', () => {})
    s.on('close', () => { clearTimeout(timer); resolve(d) })
  })
}

test('queued at CC=1, the malformed body gets 400 at once and leaves the queue', async (t, stack) => {
  const held: Array<() => void> = []
  const app = await startApp(t, (req, res) => { req.resume(); held.push(() => { res.end('ok') }) })
  const { ports, sidecar, url } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, stack.argv)
  const first = send(`${url}/first`)
  await until(() => app.inFlight === 1, 2000, 'first request at the app')
  const answer = await rawExchange(ports.serving, MALFORMED)
  t.match(answer, /^HTTP\/1\.1 400 /, 'answered 400 while queued')
  // node:http's 400 comes from its clientError path; the exchange ends when the socket closes.
  await until(() => sidecar.breaker?.queued === 0, 2000, 'left the queue')
  for (const h of held.splice(0)) h()
  t.equal((await first).status, 200)
  await until(() => sidecar.breaker?.inFlight === 0, 2000, 'slot back')
})

test('fresh and pooled upstream connections: 400, and five in a row do not block CC=1', async (t, stack) => {
  const app = await startApp(t, (req, res) => { req.resume(); req.on('end', () => { res.end('ok') }) })
  const { ports, sidecar, url } = await startSidecar(t, app.port, { CONTAINER_CONCURRENCY: '1' }, stack.argv)
  // No upstream connection yet: the request waits for the connect while its body fails.
  t.match(await rawExchange(ports.serving, MALFORMED), /^HTTP\/1\.1 400 /, 'fresh connection')
  for (let i = 0; i < 5; i++) {
    t.match(await rawExchange(ports.serving, i % 2 === 0 ? MALFORMED : MALFORMED_LATE), /^HTTP\/1\.1 (400|502) /, `malformed #${i + 1}`)
  }
  await until(() => sidecar.breaker?.inFlight === 0 && sidecar.breaker.queued === 0, 2000, 'no slot held')
  const r = await send(`${url}/after`)
  t.equal(r.status, 200, 'the next request is served')
})

activatorTest('activator: a malformed body buffered at zero gets 400 at once and leaves the queue', async (t, stack) => {
  const { activator, ports } = await startActivator(t, stack.argv)
  activator.registry.upsert(spec('cold', [], 1))
  const answer = await rawExchange(ports.serving, MALFORMED, route('cold'))
  t.match(answer, /^HTTP\/1\.1 400 /)
  // With node:http the 400 comes from its clientError path and the request ends when the socket closes.
  await until(() => activator.registry.lookup('default', 'cold')?.throttler.queued === 0, 2000, 'left the queue')
  await until(() => activator.active.count === 0, 2000, 'no active request')
})

activatorTest('activator: warm, fresh endpoint connection: 400, and the endpoint keeps serving at CC=1', async (t, stack) => {
  const pod = await startFakePod(t)
  const { activator, ports, url } = await startActivator(t, stack.argv)
  activator.registry.upsert(spec('warm', [pod.dest], 1))
  await until(() => activator.registry.lookup('default', 'warm')?.readyCount === 1, 5000, 'endpoint ready')
  for (let i = 0; i < 5; i++) t.match(await rawExchange(ports.serving, MALFORMED, route('warm')), /^HTTP\/1\.1 400 /)
  await until(() => activator.registry.lookup('default', 'warm')?.throttler.inFlight === 0, 2000, 'slot back')
  const client = createClient(t)
  t.equal((await sendThrough(client, url, { headers: route('warm') })).status, 200)
})
