// A revision's responseStartTimeoutSeconds and idleTimeoutSeconds, as Knative's activator applies
// them (cmd/activator/main.go: its timeout handler takes all three from the revision's spec), on
// fake time: the activator's clock is a ManualClock, so a deadline passes only when the test says.
import { request } from 'node:http'
import t from 'tap'
import { ManualClock } from '../../src/shared/clock.ts'
import { createClient, route, send, spec, startActivator, startFakePod, until } from './fixtures.ts'

t.test('responseStartTimeoutSeconds: 504 `activator request timeout` when no byte came, counted from the start; the slot comes back', async (t) => {
  const clock = new ManualClock()
  const held: Array<() => void> = []
  const pod = await startFakePod(t, (req, res) => { req.resume(); held.push(() => { res.end('late') }) })
  const { activator, url } = await startActivator(t, [], { clock })
  activator.registry.upsert(spec('slow', [pod.dest], 1))
  // Replaced as a source would: the new timeouts apply to the next request.
  activator.registry.upsert(spec('slow', [pod.dest], 1, { responseStartTimeoutSeconds: 2 }))
  const client = createClient(t)
  const reply = send(client, url, { headers: route('slow') })
  await until(() => pod.inFlight === 1, 5000, 'the request reached the pod')
  clock.advance(2_000)
  const r = await reply
  t.equal(r.status, 504)
  t.equal(r.body, 'activator request timeout')
  await until(() => pod.inFlight === 0, 2000, 'the upstream request was cut')
  const next = send(client, url, { headers: route('slow') })
  await until(() => pod.inFlight === 1, 2000, 'CC 1: the slot came back')
  for (const h of held.splice(0)) h()
  t.equal((await next).body, 'late')
})

t.test('responseStartTimeoutSeconds does not cut a response that started', async (t) => {
  const clock = new ManualClock()
  let finish: (() => void) | null = null
  const pod = await startFakePod(t, (req, res) => { req.resume(); res.writeHead(200); res.write('first '); finish = () => { res.end('last') } })
  const { activator, url } = await startActivator(t, [], { clock })
  activator.registry.upsert(spec('streaming', [pod.dest], 1, { responseStartTimeoutSeconds: 1 }))
  const body = new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = request(url, { headers: route('streaming'), agent: false }, (res) => {
      let b = ''
      res.on('data', (c: Buffer) => {
        b += c.toString()
        if (b === 'first ') { clock.advance(5_000); setTimeout(() => { finish?.() }, 150) } // several sweeper ticks past the deadline
      })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: b }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
  t.same(await body, { status: 200, body: 'first last' })
})

t.test('idleTimeoutSeconds: a response that stalls after its head is cut', async (t) => {
  const clock = new ManualClock()
  const pod = await startFakePod(t, (req, res) => { req.resume(); res.writeHead(200); res.write('partial') })
  const { activator, url } = await startActivator(t, [], { clock })
  activator.registry.upsert(spec('stall', [pod.dest], 1, { idleTimeoutSeconds: 3 }))
  const outcome = await new Promise<string>((resolve) => {
    const req = request(url, { headers: route('stall'), agent: false }, (res) => {
      res.on('data', () => { clock.advance(3_000) })
      res.on('end', () => { resolve('ended') })
      res.on('error', () => { resolve('cut') })
      res.on('aborted', () => { resolve('cut') })
    })
    req.on('error', () => { resolve('cut') })
    req.end()
  })
  t.equal(outcome, 'cut', 'the connection is cut: the status was already sent')
  await until(() => pod.inFlight === 0, 2000, 'the upstream request was cut too')
  t.equal(activator.registry.lookup('default', 'stall')?.throttler.inFlight ?? -1, 0, 'no slot held')
})
