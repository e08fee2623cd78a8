import { createServer, type Server } from 'node:http'
import type { Logger } from '../shared/logger.ts'
import type { Drainer } from '../server/drainer.ts'
import { realTimers, type Timers } from '../shared/timers.ts'

/** Knative's queue.RequestQueueDrainPath. */
export const DRAIN_PATH = '/wait-for-drain'
/** If no SIGTERM follows a preStop drain within this time, the drain was for a restart: reset. */
export const DRAIN_RESET_MS = 1000

export interface AdminServerOptions {
  drainer: Drainer
  logger: Logger
  /** True once SIGTERM was received: then the preStop drain is the pod's shutdown and is never reset. */
  isTerminating: () => boolean
  /** Timer of the 1 s reset (default: real); tests pass the drainer's ManualTimers. */
  timers?: Timers
}

/**
 * Admin port (8022): `/wait-for-drain` starts a drain (probes fail from now on) and answers 200
 * once the quiet period is over. Called by the user container's preStop hook, which the kubelet
 * runs at the same moment as it sends this container SIGTERM (a pod deletion): the drain then
 * lasts until a quiet period passed after the last request, as the SIGTERM path's own drain.
 * Knative resets the drain when no SIGTERM came within 1 s (pkg/queue/sharedmain/handlers.go,
 * adminHandler: a liveness restart of the user container, not a pod deletion): probes pass again
 * and the preStop call is answered at once.
 */
export function createAdminServer (o: AdminServerOptions): Server {
  const timers = o.timers ?? realTimers
  const resetUnlessTerminating = (): void => {
    if (o.isTerminating()) return
    o.logger.info('no SIGTERM after the preStop drain: resetting (container restart)')
    o.drainer.reset()
  }
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]
    if (path !== DRAIN_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
      res.end('not found\n')
      return
    }
    o.logger.info('drain requested on admin port')
    timers.setTimeout(resetUnlessTerminating, DRAIN_RESET_MS)
    o.drainer.drain().then(() => {
      if (!res.destroyed) { res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }); res.end('drained\n') }
    }, () => { res.destroy() })
  })
}
