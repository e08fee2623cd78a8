import { join } from 'node:path'
import { createSecureContext, type Server as TlsServer } from 'node:tls'
import type { ActivatorTlsConfig } from '../config/activator-tls-config.ts'
import type { UpstreamClient } from '../proxy/upstream.ts'
import { secureContextOptions } from '../config/tls-settings.ts'
import type { DualServer } from '../server/h2c-sniffing-server.ts'
import { createTlsListener } from '../server/tls-listener.ts'
import { CA_FILE, CERT_FILE, CERT_RELOAD_MS, CertWatcher, KEY_FILE } from '../server/cert-watcher.ts'
import type { Logger } from '../shared/logger.ts'
import type { Timers } from '../shared/timers.ts'
import { InternalTls } from './internal-tls.ts'

// The activator's TLS, both directions, fed by one mounted Secret (Knative's CertCache over
// routing-serving-certs): tls.crt + tls.key serve the TLS port (Knative: 8112, same handler as the
// plain port), and with internal TLS ca.crt is the pool pods are verified against. One CertWatcher
// re-reads the three files every minute; a changed pair goes into the listener's secure context
// (new connections get it, open ones keep theirs) and a changed ca.crt into the trust pool. A pair
// that does not load is logged and the old pair and pool stay. Loaded (with node:tls) only when
// the cert files exist or internal TLS is on.

/** Same as the plain port's head timeout (Go bounds the handshake by ReadHeaderTimeout). */
const HANDSHAKE_TIMEOUT_MS = 60_000

export interface ActivatorTlsOptions {
  readonly config: ActivatorTlsConfig
  /** The serving port's servers: TLS connections are handed to them after the handshake. */
  readonly servers: DualServer
  readonly upstreamClient: UpstreamClient
  /** Per endpoint connect attempt, handshake included. */
  readonly connectTimeoutMs: number
  /** Default CERT_RELOAD_MS (a minute, as Knative's queue-proxy watcher). */
  readonly certReloadMs?: number
  readonly timers?: Timers
  readonly logger: Logger
}

export class ActivatorTls {
  /** Dials to pods (internal TLS), or null. */
  readonly internal: InternalTls | null
  /** The TLS port's server, once the first pair loaded. */
  server: TlsServer | null
  readonly #watcher: CertWatcher

  constructor (o: ActivatorTlsOptions) {
    const c = o.config
    this.server = null
    this.internal = c.internalTls
      ? new InternalTls({ ca: null, port: c.podTlsPort, upstreamClient: o.upstreamClient, connectTimeoutMs: o.connectTimeoutMs, logger: o.logger })
      : null
    const internal = this.internal
    this.#watcher = new CertWatcher({
      certPath: join(c.certDir, CERT_FILE),
      keyPath: join(c.certDir, KEY_FILE),
      caPath: internal === null ? null : join(c.certDir, CA_FILE),
      intervalMs: o.certReloadMs ?? CERT_RELOAD_MS,
      timers: o.timers,
      logger: o.logger,
      install: (cert, key, ca) => {
        const secure = secureContextOptions(c.settings, cert, key)
        // The pair first: one that does not load throws before anything changed.
        if (this.server === null) {
          this.server = createTlsListener(o.servers, { secure, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS, logger: o.logger })
        } else {
          createSecureContext(secure)
          this.server.setSecureContext(secure)
        }
        if (internal !== null) {
          if (ca === null) o.logger.warn({ caPath: join(c.certDir, CA_FILE) }, 'internal TLS: no ca.crt, so no pod certificate verifies')
          internal.trust.setCa(ca)
        }
      },
    })
  }

  /** Loads the first pair (rejects with CertificateLoadError when it does not load) and starts the reloads. */
  start (): Promise<void> {
    return this.#watcher.start()
  }

  /** Re-reads the files now (tests; the reload tick does the same). Resolves true when something new went in. */
  reload (): Promise<boolean> {
    return this.#watcher.check()
  }

  async close (): Promise<void> {
    this.#watcher.stop()
    this.server?.close()
    if (this.internal !== null) await this.internal.close()
  }
}
