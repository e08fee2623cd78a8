import type { Socket } from 'node:net'
import { Pool, type buildConnector } from 'undici'
import type { UpstreamClient } from '../proxy/upstream.ts'
import { H1Upstream } from '../proxy/h1-upstream.ts'
import { H2cUpstream } from '../proxy/h2c-upstream.ts'
import type { SecureAddress } from '../proxy/secure-dialer.ts'
import { UpstreamTrust, type UpstreamTlsDialer } from '../proxy/upstream-tls.ts'
import { UpstreamConnectionError } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import type { EndpointPool } from './pod-tracker.ts'
import { HttpEndpointProbe, type EndpointProbe, type ProbeErrorListener } from '../proxy/endpoint-probe.ts'

// The activator's side of Knative's system-internal-tls: requests and probes to a revision's pods
// go over TLS to the pods' TLS port (Knative: BackendHTTPSPort 8112, put in place of the endpoint's
// port by handler.go useSecurePort), verified as upstream-tls.ts describes with the SAN of the
// revision's namespace. An endpoint keeps its identity (`ip:8012`, as the source gave it); only
// the address dialed changes. Loaded (with node:tls) only when internal TLS is on.
//
// A revision's private service (mesh-compatibility-mode) is dialed at its port 443 instead
// (handler.go: isClusterIP -> 443), verified the same way (its pods serve the same certificate).
// Knative probes pods and the service in plain HTTP; Sluice probes both over TLS (proxy/endpoint-probe.ts).
//
// One dialer per namespace (the SAN differs) and one probe per namespace and port, kept for the
// activator's life: the maps hold an entry per namespace that has had a revision here, bounded by
// the sources' limits.

export interface InternalTlsOptions {
  /** The CA bundle to trust (ca.crt of the activator's Secret); null = none yet (nothing verifies). */
  readonly ca: Buffer | null
  /** The pods' TLS port; 0 = the endpoint's own port (endpoints already name their TLS address). */
  readonly port: number
  readonly upstreamClient: UpstreamClient
  /** Per connection attempt, TLS handshake included. */
  readonly connectTimeoutMs: number
  readonly logger: Logger
}

/** `host:port` with the port replaced by `port` (0: unchanged). IPv6 stays bracketed. */
export function tlsDestOf (dest: string, port: number): string {
  if (port === 0) return dest
  return `${dest.slice(0, dest.lastIndexOf(':'))}:${port}`
}

function splitDest (dest: string): { host: string, port: number } {
  const colon = dest.lastIndexOf(':')
  const host = dest.slice(0, colon)
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(dest.slice(colon + 1)) }
}

/** undici's `connect` hook dialing through `dialer` (the undici Pool fallback). */
function undiciConnector (dialer: UpstreamTlsDialer, timeoutMs: number): buildConnector.connector {
  return (options, callback) => {
    const hostname = options.hostname
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
    const socket: Socket = dialer.connect(host, options.port === '' ? 443 : Number(options.port))
    let settled = false
    const settle = (err: Error | null): void => {
      if (settled) return
      settled = true
      socket.setTimeout(0)
      if (err === null) { callback(null, socket); return }
      socket.destroy()
      callback(dialer.connectError(err), null)
    }
    socket.once('secureConnect', () => { settle(null) })
    socket.once('error', settle)
    if (timeoutMs > 0) {
      socket.setTimeout(timeoutMs)
      socket.once('timeout', () => { settle(new UpstreamConnectionError('UND_ERR_CONNECT_TIMEOUT', 'connecting to the endpoint timed out')) })
    }
  }
}

/** undici's Pool (--upstream-client undici) over TLS, saying where it dials (for upgrade tunnels). */
class TlsPool extends Pool {
  readonly secureAddress: SecureAddress

  constructor (tlsDest: string, dialer: UpstreamTlsDialer, connectTimeoutMs: number) {
    super(`https://${tlsDest}`, {
      connections: null,
      pipelining: 1,
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: undiciConnector(dialer, connectTimeoutMs),
    })
    const { host, port } = splitDest(tlsDest)
    this.secureAddress = Object.freeze({ host, port, dialer })
  }
}

/** A probe of one namespace's pods over TLS, at their TLS address. */
class TlsEndpointProbe implements EndpointProbe {
  readonly inner: HttpEndpointProbe
  readonly #port: number

  constructor (dialer: UpstreamTlsDialer, onError: ProbeErrorListener, port: number) {
    this.inner = new HttpEndpointProbe({ dialer, onError })
    this.#port = port
  }

  probe (dest: string, timeoutMs: number): Promise<boolean> {
    return this.inner.probe(tlsDestOf(dest, this.#port), timeoutMs)
  }
}

/** Knative's TLS port of a revision's private service (handler.go: isClusterIP -> 443). */
export const SERVICE_TLS_PORT = 443

export class InternalTls implements ProbeErrorListener {
  readonly trust: UpstreamTrust
  readonly port: number
  /** Where a private service is dialed: 443, or 0 (the address as given) when `port` is 0. */
  readonly servicePort: number
  readonly #o: InternalTlsOptions
  readonly #dialers = new Map<string, UpstreamTlsDialer>()
  readonly #probes = new Map<string, TlsEndpointProbe>()

  constructor (options: InternalTlsOptions) {
    this.#o = options
    this.trust = new UpstreamTrust(options.ca)
    this.port = options.port
    this.servicePort = options.port === 0 ? 0 : SERVICE_TLS_PORT
  }

  dialerFor (namespace: string): UpstreamTlsDialer {
    let dialer = this.#dialers.get(namespace)
    if (dialer === undefined) {
      dialer = this.trust.dialerFor(namespace)
      this.#dialers.set(namespace, dialer)
    }
    return dialer
  }

  /** Keep-alive TLS connections to one endpoint of a revision in `namespace`, at `port` (default the pods'). */
  createPool (dest: string, namespace: string, port = this.port): EndpointPool {
    const o = this.#o
    const tlsDest = tlsDestOf(dest, port)
    const dialer = this.dialerFor(namespace)
    if (o.upstreamClient === 'sluice') {
      const { host, port } = splitDest(tlsDest)
      // As the plain pools (activator-server.ts): no limit, no timeout but connect's.
      return new H1Upstream({ host, port, hostHeader: dest, connectTimeoutMs: o.connectTimeoutMs, secure: dialer })
    }
    return new TlsPool(tlsDest, dialer, o.connectTimeoutMs)
  }

  /**
   * HTTP/2 to one endpoint over TLS (ALPN h2), for requests that came in over HTTP/2: Knative's
   * activator sends them so (its auto transport, r.ProtoMajor == 2, over TLS to the pod's 8112).
   * The `:authority` stays the endpoint as the source named it, as the HTTP/1.1 pool's Host.
   */
  createH2Pool (dest: string, namespace: string, port = this.port): EndpointPool {
    const { host, port: tlsPort } = splitDest(tlsDestOf(dest, port))
    return new H2cUpstream(`https://${dest}`, {
      connectTimeoutMs: this.#o.connectTimeoutMs,
      secure: Object.freeze({ host, port: tlsPort, dialer: this.dialerFor(namespace) }),
    })
  }

  /** The readiness probe of `namespace`'s pods (same request as plain, over TLS), at `port` (default the pods'). */
  probeFor (namespace: string, port = this.port): EndpointProbe {
    const key = `${port} ${namespace}`
    let probe = this.#probes.get(key)
    if (probe === undefined) {
      probe = new TlsEndpointProbe(this.dialerFor(namespace), this, port)
      this.#probes.set(key, probe)
    }
    return probe
  }

  /** A probe that failed the handshake says why (every attempt: at most about one a second per pod). */
  onProbeError (dest: string, err: Error): void {
    if ('code' in err && err.code === 'SLUICE_ERR_PROXY_UPSTREAM_TLS') {
      this.#o.logger.warn({ err, dest }, 'endpoint failed TLS verification; it stays out of rotation')
    }
  }

  async close (): Promise<void> {
    // Probes hold no connections between attempts (proxy/endpoint-probe.ts).
    this.#probes.clear()
  }
}
