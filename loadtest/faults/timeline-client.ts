// Open-loop load that keeps every request's outcome with its times, for scenarios that ask *when*
// requests failed (the app down, the autoscaler away), not only how many. node:http with a keep-alive
// agent, in the bench process: it reconnects by itself when a proxy closes a connection, which the
// paced client (harness/paced-client.ts, the low-overhead one for latency) does not. Rates up to a
// few hundred per second; request i is due at t0 + i/rate and counted from its due time.

import { Agent, request } from 'node:http'
import { HOST } from '../harness/targets.ts'

export interface Sample {
  /** Due time and end time, ms since the run started. */
  readonly startMs: number
  readonly endMs: number
  /** 0 when the request failed without a response (reset, refused, timed out). */
  readonly status: number
}

export interface TimelineSpec {
  readonly port: number
  readonly rate: number
  readonly durationMs: number
  readonly headers: Readonly<Record<string, string>>
  readonly path?: string
  readonly sockets?: number
  /** A request with no answer after this long counts as failed (a hang). */
  readonly timeoutMs?: number
}

export interface Timeline {
  /** performance.now() at t = 0. */
  readonly t0: number
  readonly samples: Sample[]
}

export async function runTimeline (spec: TimelineSpec): Promise<Timeline> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.sockets ?? 32 })
  const samples: Sample[] = []
  const total = Math.round((spec.rate * spec.durationMs) / 1000)
  const t0 = performance.now()
  let next = 0
  let pending = 0
  const one = (dueMs: number): void => {
    pending++
    let done = false
    const finish = (status: number): void => {
      if (done) return
      done = true
      pending--
      samples.push({ startMs: dueMs, endMs: performance.now() - t0, status })
    }
    const req = request({ host: HOST, port: spec.port, path: spec.path ?? '/', agent, headers: spec.headers, timeout: spec.timeoutMs ?? 10_000 }, (res) => {
      res.resume()
      res.on('end', () => { finish(res.statusCode ?? 0) })
      res.on('error', () => { finish(0) })
    })
    req.on('error', () => { finish(0) })
    req.on('timeout', () => { req.destroy() })
    req.end()
  }
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now() - t0
      while (next < total && (next * 1000) / spec.rate <= now) one((next++ * 1000) / spec.rate)
      if (next >= total) { clearInterval(timer); resolve() }
    }, 1)
  })
  const deadline = performance.now() + (spec.timeoutMs ?? 10_000) + 1000
  while (pending > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  agent.destroy()
  samples.sort((a, b) => a.startMs - b.startMs)
  return { t0, samples }
}
