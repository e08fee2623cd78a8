// Open-loop, evenly paced HTTP/1.1 load (wrk2-style scheduling) for tail latency at a fixed rate.
// Runs as its own process; prints one JSON line. Usage:
//
//   npx node loadtest/harness/paced-client.ts <host> <port> <rate> <durationS> <connections> ['Name: value' ...]
//
// Request i is due at t0 + i/rate. A 1 ms interval timer sends every request that is due on an idle
// keep-alive connection (raw sockets and a minimal response parser: a Node http client would add tens of
// microseconds of its own to every sample). Latency is measured from the write when a connection was free,
// and from the due time when the request had to wait for one (so a stalled server cannot hide its stall
// by holding every connection: the coordinated-omission correction). `correctedUs` measures every request
// from its due time; it includes the timer's ~1 ms granularity, so it reads high by up to ~1 ms.

import * as hdr from 'hdr-histogram-js'
import type { Histogram } from 'hdr-histogram-js'
import { connect } from 'node:net'
import type { Socket } from 'node:net'

const HEAD_END = Buffer.from('\r\n\r\n')
const CRLF = Buffer.from('\r\n')
const DRAIN_WAIT_MS = 5_000
/** More due-but-unsent requests than this means the target cannot keep the rate; stop queuing. */
const MAX_BACKLOG = 100_000

function histogram (): Histogram {
  return hdr.build({ bitBucketSize: 32, autoResize: false, lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false })
}

class Counters {
  reconnects = 0
  sent = 0
  completed = 0
  non2xx = 0
  errors = 0
  backlogMax = 0
  dropped = 0
}

// Parser states.
const HEAD = 0
const FIXED = 1
const CHUNK_SIZE = 2
const CHUNK_DATA = 3
const TRAILERS = 4

class PacedConnection {
  readonly socket: Socket
  busy = false
  /** Where the sample starts (ms, performance.now() clock). */
  startMs = 0
  dueMs = 0
  state = HEAD
  status = 0
  remaining = 0
  pending: Buffer = Buffer.alloc(0)
  /** Failed or closed: never used again (a new connection takes its place when it closed). */
  isDead = false
  readonly #request: Buffer
  readonly #client: PacedClient

  constructor (host: string, port: number, request: Buffer, client: PacedClient) {
    this.#request = request
    this.#client = client
    this.socket = connect({ host, port, noDelay: true })
    this.socket.on('data', this.onData.bind(this))
    this.socket.on('error', this.onError.bind(this))
    this.socket.on('close', this.onClose.bind(this))
  }

  send (dueMs: number, startMs: number): void {
    this.busy = true
    this.dueMs = dueMs
    this.startMs = startMs
    this.state = HEAD
    this.socket.write(this.#request)
  }

  onError (): void {
    if (this.busy && !this.isDead) this.#client.counters.errors++
    this.isDead = true
    this.busy = true // never reuse a failed socket
  }

  /**
   * The server closed the connection (e.g. its keep-alive idle timeout: 65 s in Sluice, as in Go). A
   * request outstanding on it is an error; either way a new connection takes its place. Without this
   * the client kept an idle connection the server had closed and later wrote a request into it, which
   * went nowhere and was counted only as unanswered.
   */
  onClose (): void {
    if (this.#client.isClosing) return
    if (this.busy && !this.isDead) this.#client.counters.errors++
    this.isDead = true
    this.busy = true
    this.#client.replace(this)
  }

  onData (chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    for (;;) {
      if (this.state === HEAD) {
        const end = this.pending.indexOf(HEAD_END)
        if (end < 0) return
        const head = this.pending.subarray(0, end).toString('latin1')
        this.pending = this.pending.subarray(end + 4)
        this.status = Number(head.slice(9, 12))
        const lower = head.toLowerCase()
        if (/\ntransfer-encoding:[^\n]*chunked/.test(lower)) {
          this.state = CHUNK_SIZE
        } else {
          const m = /\ncontent-length:\s*(\d+)/.exec(lower)
          this.remaining = m?.[1] !== undefined ? Number(m[1]) : 0
          this.state = FIXED
        }
      } else if (this.state === FIXED) {
        const take = Math.min(this.remaining, this.pending.length)
        this.remaining -= take
        this.pending = this.pending.subarray(take)
        if (this.remaining > 0) return
        this.#complete()
      } else if (this.state === CHUNK_SIZE) {
        const eol = this.pending.indexOf(CRLF)
        if (eol < 0) return
        const size = parseInt(this.pending.subarray(0, eol).toString('latin1'), 16)
        this.pending = this.pending.subarray(eol + 2)
        if (size === 0) {
          this.state = TRAILERS
        } else {
          this.remaining = size + 2
          this.state = CHUNK_DATA
        }
      } else if (this.state === CHUNK_DATA) {
        const take = Math.min(this.remaining, this.pending.length)
        this.remaining -= take
        this.pending = this.pending.subarray(take)
        if (this.remaining > 0) return
        this.state = CHUNK_SIZE
      } else {
        const eol = this.pending.indexOf(CRLF)
        if (eol < 0) return
        this.pending = this.pending.subarray(eol + 2)
        if (eol === 0) this.#complete()
      }
    }
  }

  #complete (): void {
    const now = performance.now()
    this.busy = false
    this.state = HEAD
    this.#client.onResponse(this, now)
  }
}

class PacedClient {
  readonly counters = new Counters()
  readonly latency = histogram()
  readonly corrected = histogram()
  readonly #connections: PacedConnection[] = []
  readonly #host: string
  readonly #port: number
  readonly #request: Buffer
  #isClosing = false
  /** Due times of requests waiting for a free connection (a growable ring would do; this is bench code). */
  readonly #backlog: number[] = []
  #backlogHead = 0
  readonly #intervalMs: number
  readonly #total: number
  #next = 0
  #t0 = 0

  constructor (host: string, port: number, rate: number, durationS: number, connections: number, headers: readonly string[]) {
    const extra = headers.map((h) => `${h}\r\n`).join('')
    const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: sluice-paced-client\r\n${extra}\r\n`)
    this.#host = host
    this.#port = port
    this.#request = request
    for (let i = 0; i < connections; i++) this.#connections.push(new PacedConnection(host, port, request, this))
    this.#intervalMs = 1000 / rate
    this.#total = Math.round(rate * durationS)
  }

  get done (): boolean { return this.#next >= this.#total && this.#backlogHead >= this.#backlog.length }

  start (): void {
    this.#t0 = performance.now()
  }

  tick (): void {
    const now = performance.now()
    while (this.#next < this.#total && this.#t0 + this.#next * this.#intervalMs <= now) {
      const due = this.#t0 + this.#next * this.#intervalMs
      this.#next++
      const conn = this.#idle()
      if (conn !== null) {
        this.counters.sent++
        conn.send(due, performance.now())
      } else if (this.#backlog.length - this.#backlogHead < MAX_BACKLOG) {
        this.#backlog.push(due)
      } else {
        this.counters.dropped++
      }
    }
    const depth = this.#backlog.length - this.#backlogHead
    if (depth > this.counters.backlogMax) this.counters.backlogMax = depth
  }

  onResponse (conn: PacedConnection, nowMs: number): void {
    this.counters.completed++
    if (conn.status < 200 || conn.status > 299) this.counters.non2xx++
    this.latency.recordValue(Math.max(1, Math.round((nowMs - conn.startMs) * 1000)))
    this.corrected.recordValue(Math.max(1, Math.round((nowMs - conn.dueMs) * 1000)))
    if (this.#backlogHead < this.#backlog.length) {
      const due = this.#backlog[this.#backlogHead++] ?? nowMs
      this.counters.sent++
      // Waited for a connection: the sample starts at its due time.
      conn.send(due, due)
    }
  }

  #idle (): PacedConnection | null {
    for (const c of this.#connections) if (!c.busy) return c
    return null
  }

  get isClosing (): boolean { return this.#isClosing }

  /** A connection closed: a new one takes its slot (not while the client itself is closing). */
  replace (dead: PacedConnection): void {
    if (this.#isClosing) return
    const i = this.#connections.indexOf(dead)
    if (i < 0) return
    this.counters.reconnects++
    this.#connections[i] = new PacedConnection(this.#host, this.#port, this.#request, this)
  }

  close (): void {
    this.#isClosing = true
    for (const c of this.#connections) c.socket.destroy()
  }
}

function percentiles (h: Histogram): Record<string, number> {
  return {
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
  }
}

async function main (): Promise<void> {
  const [host = '127.0.0.1', portText = '', rateText = '2000', durationText = '5', connText = '50', ...headers] = process.argv.slice(2)
  const port = Number(portText)
  const rate = Number(rateText)
  const durationS = Number(durationText)
  const connections = Number(connText)
  if (!Number.isInteger(port) || port <= 0 || !(rate > 0) || !(durationS > 0) || !Number.isInteger(connections) || connections <= 0 || headers.some((h) => !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+: [^\r\n]*$/.test(h))) {
    process.stderr.write('usage: paced-client.ts <host> <port> <rate> <durationS> <connections> [\'Name: value\' ...]\n')
    process.exit(2)
  }
  const client = new PacedClient(host, port, rate, durationS, connections, headers)
  // Let the connections open before the clock starts.
  await new Promise((resolve) => setTimeout(resolve, 200))
  const began = performance.now()
  client.start()
  const timer = setInterval(() => { client.tick() }, 1)
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      const elapsed = performance.now() - began
      if (client.done || elapsed > durationS * 1000 + DRAIN_WAIT_MS) { clearInterval(check); resolve() }
    }, 20)
  })
  clearInterval(timer)
  // Wait for the last responses, bounded.
  const waitUntil = performance.now() + DRAIN_WAIT_MS
  while (client.counters.completed < client.counters.sent && performance.now() < waitUntil) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const elapsedS = (performance.now() - began) / 1000
  client.close()
  const c = client.counters
  process.stdout.write(JSON.stringify({
    rate,
    durationS: elapsedS,
    connections,
    sent: c.sent,
    completed: c.completed,
    non2xx: c.non2xx,
    socketErrors: c.errors,
    unanswered: c.sent - c.completed,
    dropped: c.dropped,
    backlogMax: c.backlogMax,
    reconnects: c.reconnects,
    latencyUs: percentiles(client.latency),
    correctedUs: percentiles(client.corrected),
  }) + '\n')
}

await main()
