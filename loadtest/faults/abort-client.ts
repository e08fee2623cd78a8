// Closed-loop clients of which a share abort at a random point: while queued for a slot, in the middle
// of a request body, in the middle of a response. Raw sockets, so an abort is exactly a close at a
// chosen byte, and the client's own bookkeeping stays out of the way. Normal requests reuse one
// keep-alive connection per worker; every aborted request opens its own connection and destroys it.

import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { HOST } from '../harness/targets.ts'

const HEAD_END = Buffer.from('\r\n\r\n')
const UPLOAD_BYTES = 65_536
const NORMAL_TIMEOUT_MS = 10_000
const UPLOAD_CHUNK = Buffer.alloc(UPLOAD_BYTES, 'u')

export type AbortKind = 'queued' | 'upload' | 'response'

export interface AbortRunSpec {
  readonly port: number
  readonly headerLines: readonly string[]
  readonly requests: number
  readonly workers: number
  /** Share of requests that abort (0.2). */
  readonly abortShare: number
  /**
   * Send the same share of queued / upload / big-response requests but let them complete (the control
   * run: the same traffic shape with no abort, so memory after it is the fair idle to compare with).
   */
  readonly complete?: boolean
}

export interface AbortRunResult {
  requests: number
  completed: number
  non2xx: Record<string, number>
  /** Normal requests that failed (reset, closed before the response). */
  errors: number
  /** Normal requests with no response within NORMAL_TIMEOUT_MS. */
  hangs: number
  aborted: Record<AbortKind, number>
  durationS: number
}

function head (method: string, path: string, extra: readonly string[], headerLines: readonly string[]): Buffer {
  return Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${[...headerLines, ...extra].map((h) => `${h}\r\n`).join('')}\r\n`)
}

function randomInt (n: number): number {
  return Math.floor(Math.random() * n)
}

/** One normal request on `socket`; resolves with its status, 0 on error, -1 on a hang. */
function exchange (socket: Socket, request: Buffer): Promise<number> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0)
    let status = 0
    let bodyLeft = -1
    const done = (s: number): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
      resolve(s)
    }
    const onData = (chunk: Buffer): void => {
      if (bodyLeft < 0) {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
        const end = buf.indexOf(HEAD_END)
        if (end < 0) return
        const text = buf.subarray(0, end).toString('latin1')
        status = Number(text.slice(9, 12))
        bodyLeft = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1] ?? 0) - (buf.length - end - 4)
      } else {
        bodyLeft -= chunk.length
      }
      if (bodyLeft <= 0) done(status)
    }
    const onClose = (): void => { done(0) }
    const timer = setTimeout(() => { done(-1) }, NORMAL_TIMEOUT_MS)
    socket.on('data', onData)
    socket.on('close', onClose)
    socket.write(request)
  })
}

function openSocket (port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = connect({ host: HOST, port, noDelay: true })
    s.once('connect', () => { resolve(s) })
    s.once('error', () => { resolve(null) })
  })
}

/** Opens a connection, does the abort of `kind` at a random point, destroys it. */
async function abortOne (port: number, kind: AbortKind, headerLines: readonly string[]): Promise<void> {
  const s = await openSocket(port)
  if (s === null) return
  s.on('error', () => {})
  await new Promise<void>((resolve) => {
    const end = (): void => { s.destroy(); resolve() }
    if (kind === 'queued') {
      // The app holds each request 20 ms, so with more workers than slots this one waits in the queue
      // (or has just been forwarded) when it goes.
      s.write(head('GET', '/slow?ms=20', [], headerLines))
      setTimeout(end, randomInt(15))
    } else if (kind === 'upload') {
      s.write(head('POST', '/upload', [`Content-Length: ${UPLOAD_BYTES}`, 'Content-Type: application/octet-stream'], headerLines))
      s.write(UPLOAD_CHUNK.subarray(0, randomInt(UPLOAD_BYTES - 1)))
      setTimeout(end, randomInt(5))
    } else {
      // /big is 256 KB: go after a random number of bytes of it.
      const cut = 1 + randomInt(200_000)
      let got = 0
      s.on('data', (c: Buffer) => { got += c.length; if (got >= cut) end() })
      s.on('close', end)
      s.write(head('GET', '/big', [], headerLines))
      setTimeout(end, NORMAL_TIMEOUT_MS)
    }
  })
}

export async function runAborts (spec: AbortRunSpec): Promise<AbortRunResult> {
  const result: AbortRunResult = { requests: 0, completed: 0, non2xx: {}, errors: 0, hangs: 0, aborted: { queued: 0, upload: 0, response: 0 }, durationS: 0 }
  const kinds: AbortKind[] = ['queued', 'upload', 'response']
  const getRoot = head('GET', '/', [], spec.headerLines)
  const getSlow = head('GET', '/slow?ms=3', [], spec.headerLines)
  const getSlow20 = head('GET', '/slow?ms=20', [], spec.headerLines)
  const getBig = head('GET', '/big', [], spec.headerLines)
  const postUpload = Buffer.concat([head('POST', '/upload', [`Content-Length: ${UPLOAD_BYTES}`, 'Content-Type: application/octet-stream'], spec.headerLines), UPLOAD_CHUNK])
  const t0 = performance.now()
  const worker = async (): Promise<void> => {
    let socket: Socket | null = null
    while (result.requests < spec.requests) {
      result.requests++
      let request = Math.random() < 0.5 ? getRoot : getSlow
      if (Math.random() < spec.abortShare) {
        const kind = kinds[randomInt(kinds.length)] ?? 'queued'
        if (spec.complete !== true) {
          result.aborted[kind]++
          await abortOne(spec.port, kind, spec.headerLines)
          continue
        }
        request = kind === 'queued' ? getSlow20 : kind === 'upload' ? postUpload : getBig
      }
      if (socket === null || socket.destroyed) {
        socket = await openSocket(spec.port)
        if (socket === null) { result.errors++; continue }
        socket.on('error', () => {})
      }
      const status = await exchange(socket, request)
      if (status === -1) { result.hangs++; socket.destroy(); socket = null; continue }
      if (status === 0) { result.errors++; socket.destroy(); socket = null; continue }
      result.completed++
      if (status < 200 || status > 299) result.non2xx[String(status)] = (result.non2xx[String(status)] ?? 0) + 1
    }
    socket?.destroy()
  }
  const workers: Promise<void>[] = []
  for (let i = 0; i < spec.workers; i++) workers.push(worker())
  await Promise.all(workers)
  result.durationS = (performance.now() - t0) / 1000
  return result
}
