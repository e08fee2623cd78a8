import t from 'tap'
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'
import { route } from './fixtures.ts'
import { DEFAULT_STACK, NODE_SERVER, stackTests } from '../helpers/stacks.ts'

// The requests stay buffered (the revision has no endpoint), so only the server stack matters.
const test = stackTests(t, 'activator', [DEFAULT_STACK, NODE_SERVER])

// Acceptance: 2,000 buffered requests whose clients give up after 1 s leave the queue, and the
// activator's RSS returns within 10% of its idle size (Knative's activator grows to OOM here: issue 13583).
// The activator runs in a child process so the RSS measured is its own. Idle is taken after one
// identical warm-up burst: a fresh Node process grows its young generation, HTTP parser pool and
// malloc arenas on the first burst whatever the server does (a bare node:http server holding the
// same requests grows as much), so only a warmed-up idle size says whether the activator let go.

interface Stats { rss: number, heapUsed: number, queued: number, active: number }

const CHILD = fileURLToPath(new URL('./child/backpressure-activator.ts', import.meta.url))

function nextMessage<T> (child: ChildProcess, pick: (m: unknown) => T | null): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      const v = pick(m)
      if (v === null) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(v)
    }
    const onExit = (code: number | null): void => { reject(new Error(`child exited ${String(code)}`)) }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

function stats (child: ChildProcess): Promise<Stats> {
  const p = nextMessage(child, (m) => (typeof m === 'object' && m !== null && 'rss' in m ? m as Stats : null))
  child.send({ cmd: 'stats' })
  return p
}

function mb (bytes: number): string { return (bytes / 1e6).toFixed(1) }

/** `n` requests that give up after `giveUpMs`; resolves with how many ended in a client abort. */
async function abandon (agent: Agent, url: string, n: number, giveUpMs: number): Promise<number> {
  const signal = AbortSignal.timeout(giveUpMs)
  const results = await Promise.allSettled(Array.from({ length: n }, () => request(url, { headers: route('bp'), dispatcher: agent, signal })))
  return results.filter((r) => r.status === 'rejected').length
}

test('2,000 clients giving up while buffered leave the queue; RSS returns to idle', async (t, stack) => {
  const child = fork(CHILD, [...stack.argv], { execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  t.teardown(() => { child.kill('SIGKILL') })
  const port = await nextMessage(child, (m) => (typeof m === 'object' && m !== null && 'port' in m && typeof m.port === 'number' ? m.port : null))
  const url = `http://127.0.0.1:${port}/`
  const agent = new Agent({ connections: null, keepAliveTimeout: 10 })
  t.teardown(() => agent.destroy())

  // Warm-up: two identical bursts, so code is compiled (the second one lets TurboFan finish what
  // the first only started: its code counts in heapUsed) and V8's young generation, Node's parser
  // pool and the allocator's arenas have reached their working size before the idle size is taken.
  t.equal(await abandon(agent, url, 2_000, 1_000), 2_000)
  t.equal(await abandon(agent, url, 2_000, 1_000), 2_000)
  await agent.close()
  const idle = await stats(child)
  t.equal(idle.queued, 0)

  const a = new Agent({ connections: null, keepAliveTimeout: 10 })
  const start = performance.now()
  t.equal(await abandon(a, url, 2_000, 1_000), 2_000, 'all 2,000 clients gave up')
  const gaveUpMs = performance.now() - start
  let after = await stats(child)
  const waitStart = performance.now()
  while ((after.queued > 0 || after.active > 0) && performance.now() - waitStart < 2_000) after = await stats(child)
  // Freed socket buffers go back to the OS in the allocator's own time: give RSS up to 3 s to settle.
  const settleStart = performance.now()
  while (after.rss > idle.rss * 1.1 && performance.now() - settleStart < 3_000) after = await stats(child)
  t.equal(after.queued, 0, 'the queue is empty')
  t.equal(after.active, 0, 'nothing is held for them')
  t.comment(`gave up after ${gaveUpMs.toFixed(0)} ms; rss ${mb(after.rss)} MB vs idle ${mb(idle.rss)} MB; heap used ${mb(after.heapUsed)} vs ${mb(idle.heapUsed)} MB`)
  t.ok(after.heapUsed <= idle.heapUsed * 1.1 + 2e6, 'JS heap back to idle')
  t.ok(after.rss <= idle.rss * 1.1, `RSS within 10% of idle (${(after.rss / idle.rss * 100).toFixed(1)}%)`)
  await a.close()
  child.send({ cmd: 'exit' })
})
