import { createHash, randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import type { Dispatcher } from 'undici'
import { H1Upstream } from '../../src/proxy/h1-upstream.ts'
import { isChunkLender } from '../../src/proxy/h1-upstream-request.ts'
import { startApp, startSidecar } from '../helpers/sidecar-fixture.ts'
import { get, startHttpApp } from './h1-fixtures.ts'

// H1Upstream lends response chunks (ChunkLender): memory given back with releaseChunk() is read
// into again, a chunk the handler keeps never is. The exchange gives a chunk back only when the
// client response copied it or wrote it out whole; a slow client keeps it queued, and its bytes
// must arrive as the app sent them.

/** Records where each response's body bytes lived, optionally giving them back. */
class Lender implements Dispatcher.DispatchHandler {
  readonly release: boolean
  views: Buffer[] = []
  text = ''
  readonly done: Promise<void>
  #resolve: () => void = () => {}
  constructor (release: boolean) {
    this.release = release
    this.done = new Promise((resolve) => { this.#resolve = resolve })
  }

  onResponseData (controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.views.push(chunk) // no copy: the test checks what happens to this memory
    this.text += chunk.toString('latin1')
    if (this.release && isChunkLender(controller)) controller.releaseChunk()
  }

  onResponseEnd (): void { this.#resolve() }
  onResponseError (): void { this.#resolve() }
}

t.test('a released chunk lends its memory to the next read; a kept chunk is never read into again', async (t) => {
  let n = 0
  const app = await startHttpApp(t, (_req, res) => { n++; res.end(`response-${n}`) })
  const up = new H1Upstream({ host: '127.0.0.1', port: app.port })
  t.teardown(() => { up.destroy() })

  const released: Lender[] = []
  for (let i = 0; i < 3; i++) {
    const h = new Lender(true)
    up.dispatch(get(), h)
    await h.done
    released.push(h)
  }
  t.same(released.map((h) => h.text), ['response-1', 'response-2', 'response-3'])
  const first = released[0]?.views[0]
  const third = released[2]?.views[0]
  t.ok(first !== undefined && third !== undefined && first.buffer === third.buffer && first.byteOffset === third.byteOffset,
    'released: the next responses were read into the same memory')
  t.equal(first?.toString('latin1'), 'response-3', 'so the first view now shows the latest bytes (it was given back)')

  const kept = new Lender(false)
  up.dispatch(get(), kept)
  await kept.done
  for (let i = 0; i < 5; i++) {
    const h = new Lender(true)
    up.dispatch(get(), h)
    await h.done
  }
  t.equal(kept.views[0]?.toString('latin1'), 'response-4', 'kept: its bytes are untouched by the five reads after it')
  t.equal(app.connections, 1, 'all on one socket (one slab)')
})

function sha256 (b: Buffer): string { return createHash('sha256').update(b).digest('hex') }

/** GET over a raw socket that reads nothing for `stallMs`, then reads everything; returns the body. */
async function slowGet (port: number, path: string, stallMs: number): Promise<Buffer> {
  const socket: Socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.pause()
  socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`)
  await new Promise((resolve) => setTimeout(resolve, stallMs))
  const parts: Buffer[] = []
  let received = 0
  // Found once the head is complete: where the body starts in the concatenation, and its length.
  let bodyStart = -1
  let bodyLength = -1
  return await new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no complete response for ${path}`)) }, 20_000)
    socket.on('data', (c: Buffer) => {
      parts.push(c)
      received += c.length
      // Concatenate only until the head is found, and once at the end: joining every chunk on
      // each read copied megabytes thousands of times (quadratic, seconds of CPU per run).
      if (bodyStart < 0) {
        const all = Buffer.concat(parts)
        const headEnd = all.indexOf('\r\n\r\n')
        if (headEnd < 0) return
        const m = /content-length: (\d+)/i.exec(all.subarray(0, headEnd).toString('latin1'))
        bodyStart = headEnd + 4
        bodyLength = m === null ? -1 : Number(m[1])
        parts.length = 0
        parts.push(all)
      }
      if (bodyLength >= 0 && received >= bodyStart + bodyLength) {
        clearTimeout(timer)
        socket.destroy()
        resolve(Buffer.concat(parts).subarray(bodyStart, bodyStart + bodyLength))
      }
    })
    socket.resume()
  })
}

t.test('through the sidecar: responses sent in many small writes reach slow and fast clients intact', async (t) => {
  const bodies = new Map<string, Buffer>()
  const app = await startApp(t, (req, res) => {
    const body = bodies.get(req.url ?? '') ?? Buffer.alloc(0)
    res.writeHead(200, { 'content-length': String(body.length) })
    // Small writes a macrotask apart: each tends to reach the proxy as its own read.
    let off = 0
    const next = (): void => {
      if (off >= body.length) { res.end(); return }
      const n = Math.min(body.length - off, 500 + Math.floor(Math.random() * 12_000))
      res.write(body.subarray(off, off + n))
      off += n
      setImmediate(next)
    }
    next()
  })
  const { ports } = await startSidecar(t, app.port)
  const runs: Array<Promise<void>> = []
  for (let i = 0; i < 6; i++) {
    const path = `/b${i}`
    // A stalled client's body must outgrow the kernel's socket buffers, or no write ever queues.
    const body = randomBytes(i % 2 === 0 ? 4_000_000 + i * 100_000 : 300_000 + i * 50_000)
    bodies.set(path, body)
    // Even clients stall (their socket fills, the proxy's writes queue); odd ones read at once.
    runs.push(slowGet(ports.serving, path, i % 2 === 0 ? 300 : 0).then((got) => {
      t.equal(got.length, body.length, `${path}: every byte`)
      t.equal(sha256(got), sha256(body), `${path}: the bytes the app sent`)
    }))
  }
  await Promise.all(runs)
})
