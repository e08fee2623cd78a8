// Dependencies for the activator's units (Revision, RevisionRegistry, RevisionProxy, ActivatorHandler,
// ActivatorMetrics) built by hand, so their tests construct the unit itself: a started Activator lends
// its ProxyContext (sweeper, clock, websocket proxy) and concurrency reporter; pools are real
// H1Upstreams and the probe is the real HTTP probe, so requests and probes cross real sockets to
// fake pods (fixtures.ts startFakePod).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Activator } from '../../src/activator/activator-server.ts'
import { DEFAULT_PROBER_SCHEDULE } from '../../src/activator/endpoint-prober.ts'
import type { EndpointPool } from '../../src/activator/pod-tracker.ts'
import type { RevisionDeps } from '../../src/activator/revision.ts'
import { HttpEndpointProbe } from '../../src/proxy/endpoint-probe.ts'
import { H1Upstream } from '../../src/proxy/h1-upstream.ts'
import { realClock } from '../../src/shared/clock.ts'
import { silentLogger } from '../../src/shared/logger.ts'
import { realTimers } from '../../src/shared/timers.ts'
import { startActivator, type Teardown } from './fixtures.ts'

/** A keep-alive pool to `host:port` (IPv4 only: the fake pods bind 127.0.0.1). */
export function h1Pool (dest: string): EndpointPool {
  const colon = dest.lastIndexOf(':')
  return new H1Upstream({ host: dest.slice(0, colon), port: Number(dest.slice(colon + 1)), hostHeader: dest, connectTimeoutMs: 2_000 })
}

export interface UnitContext {
  /** Lends ctx and reporter; its own registry stays empty. */
  activator: Activator
  deps (overrides?: Partial<RevisionDeps>): RevisionDeps
}

export async function unitContext (t: Teardown): Promise<UnitContext> {
  const { activator } = await startActivator(t)
  const probe = new HttpEndpointProbe()
  return {
    activator,
    deps: (overrides = {}) => ({
      ctx: activator,
      reporter: activator.reporter,
      probe,
      proberSchedule: DEFAULT_PROBER_SCHEDULE,
      proberTimers: realTimers,
      proberClock: realClock,
      createPool: h1Pool,
      createH2Pool: null,
      serviceDial: null,
      queueDepth: 100,
      activators: { index: 0, count: 1 },
      defaultTimeoutMs: 10_000,
      queueTimeoutMs: 0,
      logger: silentLogger(),
      ...overrides,
    }),
  }
}

/** A node:http server on 127.0.0.1:0 whose every request goes to `handle`; returns its base URL. */
export async function serve (t: Teardown, handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handle)
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) }))
  const address: AddressInfo | string | null = server.address()
  return `http://127.0.0.1:${address !== null && typeof address === 'object' ? address.port : 0}`
}
