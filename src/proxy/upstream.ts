import type { Dispatcher } from 'undici'

/**
 * Where an exchange sends its request: undici's Pool (HTTP/1.1 keep-alive) or our H2cUpstream
 * (HTTP/2 prior knowledge, for gRPC). Both drive the same DispatchHandler callbacks.
 */
/** --upstream-client: which HTTP/1.1 client is the Upstream: Sluice's own (H1Upstream) or undici's Pool, the fallback. */
export type UpstreamClient = 'sluice' | 'undici'

export interface Upstream {
  dispatch (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean
}
