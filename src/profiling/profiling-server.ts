import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import { H1Port } from '../server/h1-port.ts'
import type { InboundRequest, InboundResponse } from '../server/inbound.ts'
import { realClock, type Clock } from '../shared/clock.ts'
import { ANSWER_CODES, ERROR_CODE_HEADER } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type TimerHandle, type Timers } from '../shared/timers.ts'

// The Node equivalent of the pprof server Knative's queue-proxy and activator run on port 8008 when
// runtime profiling is enabled (knative.dev/pkg observability/runtime: Go's net/http/pprof under
// /debug/pprof/). Go's profiles do not exist in Node; what V8 offers instead, in the formats Chrome
// DevTools and VS Code open:
//
//   /debug/pprof/                       index
//   /debug/pprof/profile?seconds=N      CPU profile of the next N s (default 30, as Go) -> .cpuprofile
//   /debug/pprof/heap                   heap snapshot, streamed as V8 serialises it   -> .heapsnapshot
//   /debug/pprof/heapprofile?seconds=N  sampling heap profile of the next N s          -> .heapprofile
//   /debug/pprof/cmdline                the command line, NUL-separated (as Go's)
//
// One profile at a time (each one costs the proxy CPU, and a heap snapshot stops the event loop
// while V8 walks the heap): a request while another runs gets 409 with Retry-After. A client that
// goes away ends its profile at once. node:inspector is loaded by the first timed profile; this module
// itself only when profiling is switched on (profiling-switch.ts), so a default sidecar loads neither.

/** Longest timed profile: Go bounds `seconds` by the server's write timeout; we by this. */
export const MAX_PROFILE_SECONDS = 300
/** Go's pprof.Profile default. */
export const DEFAULT_PROFILE_SECONDS = 30
export const PPROF_PREFIX = '/debug/pprof/'

const TEXT = 'text/plain; charset=utf-8'
const HEADERS_TIMEOUT_MS = 15_000 // Knative's ReadHeaderTimeout for this server
const KEEP_ALIVE_MS = 65_000
const MAX_HEAD_BYTES = 16 * 1024

const INDEX = Buffer.from(`<!doctype html>
<html><head><title>/debug/pprof/</title></head><body>
<p>Sluice runtime profiles (Node/V8 formats; open them in Chrome DevTools or VS Code):</p>
<ul>
<li><a href="profile?seconds=${DEFAULT_PROFILE_SECONDS}">profile?seconds=N</a>: CPU profile of the next N seconds (1-${MAX_PROFILE_SECONDS}, default ${DEFAULT_PROFILE_SECONDS}), a .cpuprofile</li>
<li><a href="heap">heap</a>: heap snapshot, a .heapsnapshot (stops the process while V8 writes it)</li>
<li><a href="heapprofile?seconds=${DEFAULT_PROFILE_SECONDS}">heapprofile?seconds=N</a>: sampling heap profile of the next N seconds, a .heapprofile</li>
<li><a href="cmdline">cmdline</a>: the command line</li>
</ul>
<p>One profile at a time.</p>
</body></html>
`)

type ProfileKind = 'cpu' | 'heap-snapshot' | 'heap-sampling'

export interface ProfilingServerOptions {
  host: string
  port: number
  /** In file names: sluice-<mode>-<pid>-<time>.cpuprofile. */
  mode: string
  logger: Logger
  /** Ends timed profiles (default: real timers). */
  timers?: Timers
  /** Wall clock of the file names, and Retry-After. */
  clock?: Clock
}

/** The inspector session's calls this server makes (node:inspector/promises Session). */
interface InspectorSession {
  connect (): void
  disconnect (): void
  post (method: string, params?: object): Promise<unknown>
}

/** The profile being taken: one at a time. */
class Running {
  readonly kind: ProfileKind
  /** Monotonic ms when a timed profile ends; null for a snapshot (ends when written). */
  readonly endsAtMs: number | null
  timer: TimerHandle | null
  constructor (kind: ProfileKind, endsAtMs: number | null) {
    this.kind = kind
    this.endsAtMs = endsAtMs
    this.timer = null
  }
}

export class ProfilingServer {
  readonly #o: ProfilingServerOptions
  readonly #timers: Timers
  readonly #clock: Clock
  readonly #port: H1Port
  #running: Running | null = null

  constructor (options: ProfilingServerOptions) {
    this.#o = options
    this.#timers = options.timers ?? realTimers
    this.#clock = options.clock ?? realClock
    this.#port = new H1Port({ keepAliveTimeoutMs: KEEP_ALIVE_MS, headersTimeoutMs: HEADERS_TIMEOUT_MS, maxHeadBytes: MAX_HEAD_BYTES, logger: options.logger },
      (req, res) => { this.#handle(req, res) })
  }

  /** The profile being taken ('cpu', 'heap-snapshot', 'heap-sampling'), or null (tests wait on it). */
  get running (): ProfileKind | null { return this.#running?.kind ?? null }

  /** Where it listens (null before listen()). */
  get address (): AddressInfo | null {
    const a = this.#port.net.address()
    return a !== null && typeof a === 'object' ? a : null
  }

  /** Listens; resolves with the port. */
  listen (): Promise<number> {
    const net = this.#port.net
    return new Promise((resolve, reject) => {
      net.once('error', reject)
      net.listen(this.#o.port, this.#o.host, () => {
        net.off('error', reject)
        resolve((net.address() as AddressInfo).port)
      })
    })
  }

  /** Stops listening and closes every connection (a profile being taken ends with its client). */
  close (): void {
    this.#port.close()
  }

  #handle (req: InboundRequest, res: InboundResponse): void {
    req.resume()
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1))
    if (path !== '/debug/pprof' && !path.startsWith(PPROF_PREFIX)) { refuse(res, 404, ANSWER_CODES.profilingNotFound, 'not found'); return }
    const name = path.slice(PPROF_PREFIX.length)
    if (req.method !== 'GET') { refuse(res, 405, ANSWER_CODES.profilingMethodNotAllowed, `${req.method ?? ''} not allowed: GET only`, { allow: 'GET' }); return }
    switch (name) {
      case '':
      case 'index':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': INDEX.length })
        res.end(INDEX)
        return
      case 'cmdline': {
        const body = Buffer.from(process.argv.join('\0'))
        res.writeHead(200, { 'content-type': TEXT, 'content-length': body.length })
        res.end(body)
        return
      }
      case 'profile':
      case 'heapprofile': {
        const seconds = secondsOf(query.get('seconds'))
        if (seconds === null) { refuse(res, 400, ANSWER_CODES.profilingBadRequest, `seconds must be an integer from 1 to ${MAX_PROFILE_SECONDS}, got ${JSON.stringify(query.get('seconds')?.slice(0, 20))}`); return }
        if (this.#refuseWhenBusy(res)) return
        this.#timed(name === 'profile' ? 'cpu' : 'heap-sampling', seconds, res)
        return
      }
      case 'heap':
        if (this.#refuseWhenBusy(res)) return
        this.#snapshot(res)
        return
      default:
        refuse(res, 404, ANSWER_CODES.profilingNotFound, `no profile ${JSON.stringify(name.slice(0, 40))} in Node: see ${PPROF_PREFIX}`)
    }
  }

  #refuseWhenBusy (res: InboundResponse): boolean {
    const r = this.#running
    if (r === null) return false
    const retryS = r.endsAtMs === null ? 1 : Math.max(1, Math.ceil((r.endsAtMs - this.#clock.nowMs()) / 1000))
    refuse(res, 409, ANSWER_CODES.profilingBusy, `a ${r.kind} profile is being taken; one at a time (retry in ${retryS} s)`, { 'retry-after': String(retryS) })
    return true
  }

  /** A CPU or sampling heap profile over `seconds`, through an in-process inspector session. */
  #timed (kind: 'cpu' | 'heap-sampling', seconds: number, res: InboundResponse): void {
    const running = new Running(kind, this.#clock.nowMs() + seconds * 1000)
    this.#running = running
    const log = this.#o.logger
    let session: InspectorSession | null = null
    let settled = false
    const finish = (): void => {
      if (settled) return
      settled = true
      running.timer?.cancel()
      if (this.#running === running) this.#running = null
    }
    const stop = async (): Promise<Buffer> => {
      if (session === null) throw new Error('no inspector session')
      const result = kind === 'cpu'
        ? (await session.post('Profiler.stop') as { profile: unknown }).profile
        : (await session.post('HeapProfiler.stopSampling') as { profile: unknown }).profile
      return Buffer.from(JSON.stringify(result))
    }
    // Client gone: stop now, free the slot.
    res.on('close', () => {
      if (settled) return
      log.info({ kind }, 'profile abandoned by its client')
      const s = session
      finish()
      if (s !== null) stop().catch(() => {}).finally(() => { s.disconnect() })
    })
    loadInspector().then(async (Session) => {
      if (settled) return
      const s = new Session()
      s.connect()
      session = s
      if (kind === 'cpu') {
        await s.post('Profiler.enable')
        await s.post('Profiler.start')
      } else {
        await s.post('HeapProfiler.enable')
        await s.post('HeapProfiler.startSampling')
      }
      if (settled) return // the client left while the profiler started (the close handler stops it)
      log.info({ kind, seconds }, 'profile started')
      running.timer = this.#timers.setTimeout(() => {
        if (settled) return
        stop().then((body) => {
          finish()
          s.disconnect()
          if (res.destroyed) return
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, 'content-disposition': `attachment; filename="${this.#fileName(kind === 'cpu' ? 'cpuprofile' : 'heapprofile')}"` })
          res.end(body)
          log.info({ kind, seconds, bytes: body.length }, 'profile served')
        }, (err: unknown) => { this.#failed(kind, err, res, finish, s) })
      }, seconds * 1000)
    }).catch((err: unknown) => {
      if (!settled) this.#failed(kind, err, res, finish, session)
    })
  }

  #failed (kind: ProfileKind, err: unknown, res: InboundResponse, finish: () => void, session: InspectorSession | null): void {
    finish()
    session?.disconnect()
    this.#o.logger.error({ err, kind }, 'profile failed')
    if (!res.destroyed && !res.headersSent) refuse(res, 500, ANSWER_CODES.profilingFailed, `profile failed: ${err instanceof Error ? err.message : String(err)}`)
    else res.destroy()
  }

  /** A heap snapshot (node:v8 getHeapSnapshot), written out as the client reads it. */
  #snapshot (res: InboundResponse): void {
    const running = new Running('heap-snapshot', null)
    this.#running = running
    const log = this.#o.logger
    const done = (): void => { if (this.#running === running) this.#running = null }
    let stream: Readable
    try {
      // V8 walks the heap here, stopping the event loop for a while (~100 ms per 10 MB of heap here).
      stream = process.getBuiltinModule('node:v8').getHeapSnapshot()
    } catch (err) {
      done()
      log.error({ err }, 'heap snapshot failed')
      refuse(res, 500, ANSWER_CODES.profilingFailed, 'heap snapshot failed')
      return
    }
    let bytes = 0
    res.writeHead(200, { 'content-type': 'application/json', 'content-disposition': `attachment; filename="${this.#fileName('heapsnapshot')}"` })
    res.on('close', () => { stream.destroy(); done() })
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      if (!res.write(chunk)) {
        stream.pause()
        res.once('drain', () => { stream.resume() })
      }
    })
    stream.once('end', () => {
      done()
      res.end()
      log.info({ kind: 'heap-snapshot', bytes }, 'profile served')
    })
    stream.once('error', (err: Error) => {
      done()
      log.error({ err }, 'heap snapshot failed')
      res.destroy(err)
    })
  }

  #fileName (ext: string): string {
    const stamp = new Date(this.#clock.wallMs()).toISOString().replace(/[:.]/g, '-')
    return `sluice-${this.#o.mode}-${process.pid}-${stamp}.${ext}`
  }
}

/** `seconds`: absent = Go's default; otherwise a whole number within bounds, else null. */
function secondsOf (raw: string | null): number | null {
  if (raw === null || raw === '') return DEFAULT_PROFILE_SECONDS
  if (!/^\d{1,6}$/.test(raw)) return null
  const n = Number(raw)
  return n >= 1 && n <= MAX_PROFILE_SECONDS ? n : null
}

function refuse (res: InboundResponse, status: number, code: string, message: string, extra: Record<string, string> = {}): void {
  const body = Buffer.from(message + '\n')
  res.writeHead(status, { 'content-type': TEXT, 'content-length': body.length, [ERROR_CODE_HEADER]: code, ...extra })
  res.end(body)
}

let sessionClass: (new () => InspectorSession) | null = null

/** node:inspector, on the first timed profile only. */
async function loadInspector (): Promise<new () => InspectorSession> {
  if (sessionClass === null) {
    const inspector = await import('node:inspector/promises')
    sessionClass = inspector.Session
  }
  return sessionClass
}
