import type { Socket } from 'node:net'
import { checkServerIdentity, connect, createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls'
import { UpstreamTlsError } from '../shared/errors.ts'
import type { SecureDialer } from './secure-dialer.ts'

// Knative's activator dialing pods with system-internal-tls (pkg/activator/certificate:
// cache.go + tls_context.go), reproduced check for check:
//
// - trust: only the CA bundle of the activator's Secret (routing-serving-certs, key ca.crt). Go's
//   RootCAs is that pool alone, so the system roots are not trusted; no CA = nothing verifies.
// - ServerName "data-plane.knative.dev" (certificates.LegacyFakeDnsName): the SNI, and the name
//   the chain must be valid for (Go's hostname check). Knative's queue-proxy certificates carry it
//   for that reason (MakeQueueProxyCertificate: DNSNames kn-user-<ns> and data-plane.knative.dev).
// - VerifyConnection: the leaf's DNS names include kn-user-<namespace of the revision>
//   (certificates.DataPlaneUserSAN), so a pod of another namespace cannot answer for this one.
// - MinVersion TLS 1.3.
//
// The trust pool is replaced when ca.crt changes (Knative rebuilds it on each Secret update); a
// connection already open keeps the pool it was verified with. This module loads node:tls, so the
// activator imports it only when internal TLS is on.

/** knative.dev/networking certificates.LegacyFakeDnsName. */
export const DATA_PLANE_SERVER_NAME = 'data-plane.knative.dev'

/** knative.dev/networking certificates.DataPlaneUserSAN. */
export function dataPlaneUserSan (namespace: string): string {
  return `kn-user-${namespace.toLowerCase()}`
}

const HTTP1_ALPN: readonly string[] = Object.freeze(['http/1.1'])

/** SO_KEEPALIVE delay, as on plain upstream sockets. */
const KEEPALIVE_PROBE_DELAY_MS = 60_000

function contextFor (ca: Buffer | null): SecureContext {
  // `ca: []` rather than leaving it out: without `ca` Node trusts its bundled roots.
  return createSecureContext({ ca: ca === null ? [] : ca, minVersion: 'TLSv1.3' })
}

/** The DNS entries of a certificate's subjectaltname ("DNS:a, DNS:b, IP Address:..."). */
function dnsNamesOf (cert: PeerCertificate): string[] {
  const out: string[] = []
  const san = cert.subjectaltname
  if (typeof san !== 'string') return out
  for (const part of san.split(', ')) if (part.startsWith('DNS:')) out.push(part.slice(4))
  return out
}

/** The trust pool every namespace's dialer shares; one per activator. */
export class UpstreamTrust {
  #context: SecureContext
  readonly serverName: string

  constructor (ca: Buffer | null, serverName = DATA_PLANE_SERVER_NAME) {
    this.#context = contextFor(ca)
    this.serverName = serverName
  }

  get context (): SecureContext { return this.#context }

  /** Replaces the CA bundle (null = trust nothing); new connections verify against it. */
  setCa (ca: Buffer | null): void {
    this.#context = contextFor(ca)
  }

  /** A dialer for the pods of one namespace (the SAN it requires is kn-user-<namespace>). */
  dialerFor (namespace: string): UpstreamTlsDialer {
    return new UpstreamTlsDialer(this, dataPlaneUserSan(namespace))
  }
}

export class UpstreamTlsDialer implements SecureDialer {
  readonly trust: UpstreamTrust
  /** The DNS name the leaf certificate must list. */
  readonly san: string
  readonly #checkServerIdentity: (hostname: string, cert: PeerCertificate) => Error | undefined

  constructor (trust: UpstreamTrust, san: string) {
    this.trust = trust
    this.san = san
    // Once per dialer: Node calls it after the chain verified, with hostname = the servername.
    this.#checkServerIdentity = (hostname: string, cert: PeerCertificate): Error | undefined => {
      const err = checkServerIdentity(hostname, cert)
      if (err !== undefined) return err
      const names = dnsNamesOf(cert)
      if (names.includes(san)) return undefined
      return new Error(`san ${JSON.stringify(san)} does not have a matching name in [${names.join(' ')}]`)
    }
  }

  connect (host: string, port: number, alpn: readonly string[] = HTTP1_ALPN): Socket {
    const socket = connect({
      host,
      port,
      servername: this.trust.serverName,
      secureContext: this.trust.context,
      checkServerIdentity: this.#checkServerIdentity,
      ALPNProtocols: alpn as string[],
    })
    socket.setNoDelay(true)
    socket.setKeepAlive(true, KEEPALIVE_PROBE_DELAY_MS)
    return socket
  }

  connectError (err: Error): Error {
    // OS errors (refused, unreachable, reset) carry a syscall and keep their code, so they are
    // retried and re-probed as on plain connections; everything else is the handshake's.
    if ('syscall' in err || err instanceof UpstreamTlsError) return err
    return new UpstreamTlsError(`TLS handshake with the endpoint failed: ${err.message}`, { cause: err })
  }
}
