import { H1Port } from '../server/h1-port.ts'
import type { InboundRequest, InboundResponse } from '../server/inbound.ts'
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

const TEXT = 'text/plain; charset=utf-8'
const NOT_FOUND_BODY = Buffer.from('not found\n')
const DRAINED_BODY = Buffer.from('drained\n')
/** Go's http.Server defaults as Knative's admin server has them: no keep-alive limit of note. */
const KEEP_ALIVE_MS = 65_000
const HEADERS_TIMEOUT_MS = 60_000
const MAX_HEAD_BYTES = 64 * 1024

/**
 * Admin port (8022): `/wait-for-drain` starts a drain (probes fail from now on) and answers 200
 * once the quiet period is over. Called by the user container's preStop hook, which the kubelet
 * runs at the same moment as it sends this container SIGTERM (a pod deletion): the drain then
 * lasts until a quiet period passed after the last request, as the SIGTERM path's own drain.
 * Knative resets the drain when no SIGTERM came within 1 s (pkg/queue/sharedmain/handlers.go,
 * adminHandler: a liveness restart of the user container, not a pod deletion): probes pass again
 * and the preStop call is answered at once.
 */
export function createAdminServer (o: AdminServerOptions): H1Port {
  const timers = o.timers ?? realTimers
  const resetUnlessTerminating = (): void => {
    if (o.isTerminating()) return
    o.logger.info('no SIGTERM after the preStop drain: resetting (container restart)')
    o.drainer.reset()
  }
  // Sluice's HTTP/1.1 server, as the serving port: node:http would cost every sidecar ~15 MB (issue 12).
  return new H1Port({ keepAliveTimeoutMs: KEEP_ALIVE_MS, headersTimeoutMs: HEADERS_TIMEOUT_MS, maxHeadBytes: MAX_HEAD_BYTES, logger: o.logger },
    (req: InboundRequest, res: InboundResponse) => {
      req.resume()
      const path = (req.url ?? '/').split('?', 1)[0]
      if (path !== DRAIN_PATH) {
        res.writeHead(404, { 'content-type': TEXT, 'content-length': NOT_FOUND_BODY.length })
        res.end(NOT_FOUND_BODY)
        return
      }
      o.logger.info('drain requested on admin port')
      timers.setTimeout(resetUnlessTerminating, DRAIN_RESET_MS)
      o.drainer.drain().then(() => {
        if (!res.destroyed) { res.writeHead(200, { 'content-type': TEXT, 'content-length': DRAINED_BODY.length }); res.end(DRAINED_BODY) }
      }, () => { res.destroy() })
    })
}
