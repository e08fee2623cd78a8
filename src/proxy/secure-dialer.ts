import type { Socket } from 'node:net'

// What an upstream client needs to open TLS connections instead of plain TCP (the activator's
// dials to pods with system-internal-tls). Declared here, apart from its implementation
// (upstream-tls.ts), so the clients name it without loading node:tls: the plain path never does.

export interface SecureDialer {
  /**
   * Starts a TLS connection; it is usable after its 'secureConnect', and fails with 'error'.
   * `alpn`: the protocols offered (default HTTP/1.1 only; the h2 client asks for `h2`).
   */
  connect (host: string, port: number, alpn?: readonly string[]): Socket
  /** A connection's error before 'secureConnect' as the caller should see it (TLS failures typed, OS errors as they are). */
  connectError (err: Error): Error
}

/** Where and how a pool dials TLS; upgrade tunnels to the same endpoint dial it the same way. */
export interface SecureAddress {
  /** Bare host (IPv6 without brackets) and the TLS port. */
  readonly host: string
  readonly port: number
  readonly dialer: SecureDialer
}
