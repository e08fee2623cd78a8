// Which response trailer fields the proxy relays to its client. RFC 9110 6.5.1: a sender must not
// put in trailers a field whose meaning is needed before the content (framing, routing,
// authentication, request modifiers, response controls, content format), and a recipient must
// not merge such a field into the header section. The app's trailers go out after the body, and
// a client or an intermediary that merges them anyway would let the app set framing, cookies or
// credentials after the fact: those are dropped here, on every upstream path (HTTP/1.1, h2c,
// undici), in the one place trailers are relayed (ProxyExchange.onResponseEnd).
//
// The list is Go's (golang.org/x/net/http/httpguts badTrailer plus the If-* prefix, which
// net/http applies to trailers a handler declares), with what RFC 9110 6.5.1 names beyond it:
// Set-Cookie and Cookie (authentication, RFC 6265), Upgrade (connection management), and the
// response control fields (Age, Date, Expires, Location, Retry-After, Vary). Every Content-*
// field describes the content and goes too. Go's ReverseProxy relays undeclared trailers through
// http.TrailerPrefix without that check (net/http/server.go finalTrailers); we drop them either way.

const FORBIDDEN_TRAILERS = new Set([
  // framing and connection
  'transfer-encoding', 'content-length', 'trailer', 'te', 'connection', 'keep-alive', 'proxy-connection', 'upgrade',
  // routing and request modifiers
  'host', 'expect', 'max-forwards', 'range', 'cache-control', 'pragma',
  // authentication
  'authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate', 'realm', 'set-cookie', 'cookie',
  // response controls
  'age', 'date', 'expires', 'location', 'retry-after', 'vary',
])

/** A lowercase field name that must not be relayed as a trailer. */
export function isForbiddenTrailer (name: string): boolean {
  return FORBIDDEN_TRAILERS.has(name) || name.startsWith('content-') || name.startsWith('if-')
}

type Trailers = Record<string, string | string[] | undefined>

/**
 * The trailers to relay: `trailers` itself when every field may go (the common case, gRPC's
 * grpc-status and grpc-message: no copy), else a copy without the forbidden ones, or null when
 * none is left. Runs only for a response that has trailers.
 */
export function relayableTrailers (trailers: Trailers): Trailers | null {
  let forbidden = 0
  let total = 0
  for (const name in trailers) {
    total++
    if (isForbiddenTrailer(name.toLowerCase())) forbidden++
  }
  if (forbidden === 0) return total === 0 ? null : trailers
  if (forbidden === total) return null
  const out: Trailers = {}
  for (const name in trailers) if (!isForbiddenTrailer(name.toLowerCase())) out[name] = trailers[name]
  return out
}
