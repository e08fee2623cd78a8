// The HTTP/1.1 stacks a mode can serve and proxy with, and the one table of where a fallback
// behaves differently from the default stack (issue 13: "the fallbacks are real or gone").
//
// A behaviour suite registers each test once per stack with `stackTests`: the test gets the stack
// and passes `stack.argv` to `startSidecar` / `startActivator`. A (test, stack) pair listed in
// DIFFERENCES is skipped with its reason, so `tap` output names every difference; the
// `--http-server` / `--upstream-client` rows of docs/sidecar.md and docs/activator.md say the same in words.
import type { Test } from 'tap'

export interface Stack {
  /** Short name, appended to each test name: `(node-server)`. */
  readonly name: string
  /** Flags for the mode's command line (empty for the default stack). */
  readonly argv: readonly string[]
  readonly httpServer: 'sluice' | 'node'
  readonly upstreamClient: 'sluice' | 'undici'
}

export const DEFAULT_STACK: Stack = Object.freeze({ name: 'sluice', argv: [], httpServer: 'sluice', upstreamClient: 'sluice' })
export const NODE_SERVER: Stack = Object.freeze({ name: 'node-server', argv: ['--http-server', 'node'], httpServer: 'node', upstreamClient: 'sluice' })
export const UNDICI_CLIENT: Stack = Object.freeze({ name: 'undici-client', argv: ['--upstream-client', 'undici'], httpServer: 'sluice', upstreamClient: 'undici' })
export const BOTH_FALLBACKS: Stack = Object.freeze({
  name: 'node-server+undici-client',
  argv: ['--http-server', 'node', '--upstream-client', 'undici'],
  httpServer: 'node',
  upstreamClient: 'undici',
})

/** Every behaviour suite runs these. */
export const STACKS: readonly Stack[] = Object.freeze([DEFAULT_STACK, NODE_SERVER, UNDICI_CLIENT])
/**
 * Suites that take well under a second per stack also run both fallbacks together; the slow ones
 * (real timeouts, drains, the misbehaving-clients suites) do not, to keep `npm test` short: each
 * fallback is already covered alone there. Suites that mostly wait on real timeouts run their
 * stacks at once (`parallel`).
 */
export const ALL_STACKS: readonly Stack[] = Object.freeze([...STACKS, BOTH_FALLBACKS])

export type Mode = 'sidecar' | 'activator'

export interface Difference {
  readonly mode: Mode
  /** The test's name as registered, without the stack suffix. */
  readonly test: string
  /** The fallback that differs: `httpServer: 'node'` or `upstreamClient: 'undici'`. */
  readonly fallback: 'node-server' | 'undici-client'
  readonly reason: string
}

/**
 * Where a fallback does not do what the default stack does, and why it is accepted rather than
 * fixed. A combined stack inherits the differences of each fallback it uses.
 */
export const DIFFERENCES: readonly Difference[] = Object.freeze([
  // node:http decides when a connection's next request is parsed, and answers parse errors itself
  // ('clientError'): what it refuses is answered with H1Server's statuses where its error codes
  // allow (src/server/node-client-error.ts, node-head-check.ts); the rest is listed here.
  ...(['sidecar', 'activator'] as const).flatMap((mode): Difference[] => [
    { mode, fallback: 'node-server', test: 'garbage after a valid request on a kept connection: 200, then 400 and close', reason: 'llhttp parses the whole read at once and its 400 for the garbage closes the connection before the valid request is answered' },
    { mode, fallback: 'node-server', test: 'CONNECT after a plain request on the same connection: refused without a tunnel, nothing held', reason: 'node:http hands the CONNECT to its connect path as soon as it is parsed, which ends the connection before the plain request pipelined ahead of it is answered' },
  ]),
  { mode: 'sidecar', fallback: 'node-server', test: 'a Transfer-Encoding Go does not support (chunked + HTAB, two fields) is a 501 before the app', reason: 'refused all the same, but with 400: llhttp reports both as HPE_INVALID_TRANSFER_ENCODING, the code it also gives Content-Length with Transfer-Encoding (a 400), so the answer cannot tell them apart' },
  { mode: 'sidecar', fallback: 'node-server', test: 'three pipelined GETs in one write (CC=1): answered in order, connection kept', reason: 'node:http parses a pipelined request only once the response before it has ended, so it is never admitted (queued) while that one runs; the answers still come in order' },
  { mode: 'activator', fallback: 'node-server', test: 'three pipelined GETs in one write (CC=1, buffered first): answered in order, connection kept', reason: 'node:http parses a pipelined request only once the response before it has ended, so it is never buffered while that one waits; the answers still come in order' },
  // undici's Pool reads the app's responses with llhttp and fails the exchange on what it
  // considers a protocol error, where H1Upstream (and Go's transport) tolerate it.
  { mode: 'sidecar', fallback: 'undici-client', test: 'the app answers 100 Continue, then a real response after reading everything', reason: 'undici destroys the connection on a 100 response it did not expect ("bad response", lib/dispatcher/client-h1.js), so the client gets 502; Go and H1Upstream skip the 1xx and relay the final response' },
  { mode: 'sidecar', fallback: 'undici-client', test: 'the app sends body bytes after a 204: the client gets a bare 204, nothing after it', reason: 'undici fails the exchange when bytes follow a bodiless response, and the client\'s connection is cut with no answer; H1Upstream relays the 204 and drops the connection' },
  { mode: 'activator', fallback: 'undici-client', test: 'the pod answers 100 Continue, then a real response after reading everything', reason: 'undici destroys the connection on a 100 response it did not expect ("bad response", lib/dispatcher/client-h1.js), so the client gets 502; Go and H1Upstream skip the 1xx and relay the final response' },
  { mode: 'activator', fallback: 'undici-client', test: 'the pod sends body bytes after a 204: the client gets a bare 204, nothing after it', reason: 'undici fails the exchange when bytes follow a bodiless response, and the client\'s connection is cut with no answer; H1Upstream relays the 204 and drops the connection' },
])

function differenceOf (mode: Mode, test: string, stack: Stack): Difference | null {
  for (const d of DIFFERENCES) {
    if (d.mode !== mode || d.test !== test) continue
    if (d.fallback === 'node-server' && stack.httpServer === 'node') return d
    if (d.fallback === 'undici-client' && stack.upstreamClient === 'undici') return d
  }
  return null
}

export type StackTestFn = (t: Test, stack: Stack) => Promise<void> | void

export interface StackTestOptions {
  /**
   * Run the stacks of one test at the same time (tap's buffered subtests), for tests that mostly
   * wait on real timeouts: the file then takes about as long as on one stack.
   */
  parallel?: boolean
}

/**
 * Returns a `test(name, fn)` that registers `fn` once per stack, named `name (stack)`; a listed
 * difference is registered as skipped, with its reason. With `parallel`, the stacks are subtests of
 * one test named `name`, run at once.
 */
export function stackTests (t: Test, mode: Mode, stacks: readonly Stack[] = STACKS, options: StackTestOptions = {}): (name: string, fn: StackTestFn) => void {
  const register = (parent: Test, name: string, fn: StackTestFn, buffered: boolean): Array<Promise<unknown>> => {
    const runs: Array<Promise<unknown>> = []
    for (const stack of stacks) {
      const full = `${name} (${stack.name})`
      const d = differenceOf(mode, name, stack)
      if (d !== null) runs.push(parent.test(full, { skip: `${d.fallback} differs: ${d.reason}` }, () => {}))
      else runs.push(parent.test(full, { buffered }, (st) => fn(st, stack)))
    }
    return runs
  }
  if (options.parallel !== true) return (name, fn) => { void Promise.all(register(t, name, fn, false)) }
  return (name, fn) => { void t.test(name, { jobs: stacks.length }, (g) => Promise.all(register(g, name, fn, true))) }
}
