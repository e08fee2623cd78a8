import { ProxyServer } from 'http-proxy-3'
import type { Logger } from '../shared/logger.ts'
import { UpgradeHandler, type UpgradeHandlerOptions } from './upgrade-handler.ts'

// The sidecar's websocket (Upgrade) path: http-proxy-3's ProxyServer and the UpgradeHandler that
// admits tunnels through the breaker. Loaded by UpgradeGate (upgrade-gate.ts) with the first
// Upgrade request, so a sidecar whose app never upgrades never loads http-proxy-3, node:http's
// client or the tunnel code (issue 12).

export interface UpgradePathOptions extends Omit<UpgradeHandlerOptions, 'target'> {
  /** `http://host:port` of the user container. */
  target: string
}

export interface UpgradePath {
  readonly handler: UpgradeHandler
  close (): void
}

export function createUpgradePath (o: UpgradePathOptions, logger: Logger): UpgradePath {
  const proxy = new ProxyServer({ xfwd: true, ws: true })
  // The handshake gets the plain requests' rewrites (Knative's queue handler runs RewriteHostOut
  // on every request, upgrades included): K-Original-Host becomes Host and is not passed on.
  proxy.on('proxyReqWs', (proxyReq, req) => {
    proxyReq.removeHeader('knative-serving-revision')
    proxyReq.removeHeader('knative-serving-namespace')
    const original = req.headers['k-original-host']
    if (typeof original === 'string' && original !== '') proxyReq.setHeader('host', original)
    proxyReq.removeHeader('k-original-host')
  })
  proxy.on('error', (err: unknown, _req, socketOrRes) => {
    logger.warn({ err }, 'upgrade proxy error')
    socketOrRes.destroy()
  })
  const handler = new UpgradeHandler({ ...o, target: { proxy, target: o.target } })
  return {
    handler,
    close: () => {
      handler.destroyAll()
      proxy.close()
    },
  }
}
