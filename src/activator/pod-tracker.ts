import type { SecureAddress, SecureDialer } from '../proxy/secure-dialer.ts'
import type { Upstream } from '../proxy/upstream.ts'

// One endpoint (a pod's sidecar, `host:port`) of one revision, as this activator sees it
// (Knative's podTracker). It counts the requests this activator has in flight there and refuses a
// reservation beyond the revision's containerConcurrency, so one activator never overloads a pod.
// Knative gives each tracker a Breaker and only ever calls its non-blocking Reserve; a counter is
// the same thing without the unused queue.
//
// Health: a tracker starts PROBING and takes no traffic until a probe succeeds (READY). A connect
// failure makes it FAILED (out of rotation, re-probed). REMOVED is final: the endpoint left the
// revision; requests still running there finish, then its connection pool is closed.

export const TRACKER_PROBING = 0
export const TRACKER_READY = 1
export const TRACKER_FAILED = 2
export const TRACKER_REMOVED = 3

/** Keep-alive connections to one endpoint: H1Upstream or undici's Pool (`--upstream-client`). */
export interface EndpointPool extends Upstream {
  /** Lets requests in flight finish, then closes the sockets. */
  close (): Promise<void>
  /** Set when the pool dials TLS (internal TLS): upgrade tunnels dial that address the same way. */
  readonly secureAddress?: SecureAddress | null
}

export type TrackerState = typeof TRACKER_PROBING | typeof TRACKER_READY | typeof TRACKER_FAILED | typeof TRACKER_REMOVED

const STATE_NAMES = ['probing', 'ready', 'failed', 'removed'] as const

export class PodTracker {
  /** `host:port` as the source gave it (IPv6 in brackets). */
  readonly dest: string
  /** `http://<dest>`: the websocket proxy's target. */
  readonly url: string
  /**
   * Where upgrade tunnels connect themselves: `dest` split for net.connect (IPv6 without
   * brackets), or the pool's TLS address with internal TLS.
   */
  readonly host: string
  readonly port: number
  /** Internal TLS: the dialer tunnels use (the pool's); null = plain TCP. */
  readonly secure: SecureDialer | null
  /** Keep-alive connections to the endpoint. */
  readonly pool: EndpointPool
  /**
   * h2c session to the endpoint, for requests that came in over HTTP/2 (Knative's activator picks
   * its transport by the request's protocol, r.ProtoMajor); null = those use `pool` too.
   */
  readonly h2Pool: EndpointPool | null
  /** Per-endpoint limit; Infinity when containerConcurrency is 0. */
  capacity: number
  inFlight: number
  /** Highest inFlight seen (tests, metrics): never above capacity. */
  maxInFlight: number
  state: TrackerState
  /** Requests this tracker has been given (tests, metrics). */
  served: number

  constructor (dest: string, pool: EndpointPool, capacity: number, h2Pool: EndpointPool | null = null) {
    this.dest = dest
    this.url = `http://${dest}`
    const colon = dest.lastIndexOf(':')
    const host = dest.slice(0, colon)
    const secure = pool.secureAddress ?? null
    this.host = secure !== null ? secure.host : host.startsWith('[') ? host.slice(1, -1) : host
    this.port = secure !== null ? secure.port : Number(dest.slice(colon + 1))
    this.secure = secure === null ? null : secure.dialer
    this.pool = pool
    this.h2Pool = h2Pool
    this.capacity = capacity
    this.inFlight = 0
    this.maxInFlight = 0
    this.state = TRACKER_PROBING
    this.served = 0
  }

  get isReady (): boolean { return this.state === TRACKER_READY }
  get hasRoom (): boolean { return this.inFlight < this.capacity }
  get stateName (): string { return STATE_NAMES[this.state] }

  /** Where a request goes: HTTP/2 ones over h2c, as they came (Knative's auto transport), the rest HTTP/1.1. */
  poolFor (httpVersionMajor: number): EndpointPool {
    return httpVersionMajor === 2 && this.h2Pool !== null ? this.h2Pool : this.pool
  }

  /** Takes one slot if the endpoint is under its limit. Never throws. */
  tryReserve (): boolean {
    if (this.inFlight >= this.capacity) return false
    if (++this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight
    this.served++
    return true
  }

  release (): void {
    this.inFlight--
  }

  /** containerConcurrency -> tracker capacity: 0 means unlimited. */
  static capacityFor (containerConcurrency: number): number {
    return containerConcurrency > 0 ? containerConcurrency : Number.POSITIVE_INFINITY
  }
}
