import type { Dispatcher } from 'undici'
import { ProxyExchange } from '../proxy/proxy-exchange.ts'
import type { Upstream } from '../proxy/upstream.ts'

// Where a retry waits when no endpoint has room right now. ProxyExchange asks its owner for a
// Dispatcher to replay a failed request on (ExchangeOwner.retryTarget); when every ready endpoint is
// at its limit (or none is ready: the endpoint that failed was the last), the owner hands out this
// one instead of giving up with a 502. "Dispatching" here only parks the exchange with its owner,
// which replays it on a real endpoint as soon as one has room (throttler.ts shows there is always
// room for every parked request once a slot frees up or endpoints come back). A parked request keeps
// its admission slot, its deadlines (the sweeper still watches it) and its client-close listener, so
// it leaves like any other request on timeout or disconnect.

export interface ParkingOwner {
  park (ex: ProxyExchange): void
}

export class RetryParking implements Upstream {
  readonly #owner: ParkingOwner

  constructor (owner: ParkingOwner) {
    this.#owner = owner
  }

  dispatch (_options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    // Only exchanges are ever handed this dispatcher (RevisionProxy.retryTarget).
    if (handler instanceof ProxyExchange) this.#owner.park(handler)
    return true
  }
}
