import { createServer, type Server } from 'node:http'
import type { Logger } from '../shared/logger.ts'
import type { Drainer } from '../server/drainer.ts'

/** Knative's queue.RequestQueueDrainPath. */
export const DRAIN_PATH = '/wait-for-drain'
/** If no SIGTERM follows a preStop drain within this time, the drain was for a restart: reset. */
export const DRAIN_RESET_MS = 1000

export interface AdminServerOptions {
  drainer: Drainer
  logger: Logger
  /** True once SIGTERM was received (then a drain is never reset). */
  isTerminating?: () => boolean
}

/**
 * Admin port (8022): `/wait-for-drain` starts a drain (probes fail from now on) and answers 200
 * once the quiet period is over. Called by the user container's preStop hook. Knative resets the
 * drain when no SIGTERM follows within 1 s (a liveness restart rather than a pod deletion).
 */
export function createAdminServer (o: AdminServerOptions): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]
    if (path !== DRAIN_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
      res.end('not found\n')
      return
    }
    o.logger.info('drain requested on admin port')
    const reset = setTimeout(() => {
      if (o.isTerminating === undefined || !o.isTerminating()) o.drainer.reset()
    }, DRAIN_RESET_MS)
    reset.unref()
    o.drainer.drain().then(() => {
      if (!res.destroyed) { res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }); res.end('drained\n') }
    }, () => { res.destroy() })
  })
}
