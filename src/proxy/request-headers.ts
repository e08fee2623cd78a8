import { trimOws } from '../shared/http-syntax.ts'
import { generateForwarded } from './forwarded.ts'

// Builds the header list sent upstream from the client's raw headers, in one pass and into one
// flat array (undici takes `[name, value, name, value, ...]`), which keeps duplicates and order.
//
// Rules (Go's httputil.ReverseProxy + Knative's queue-proxy):
// - hop-by-hop headers and any header named in `Connection` are dropped (RFC 9110 7.6.1);
//   for an Upgrade request `Connection: upgrade` + `Upgrade` are kept (the proxy forwards them);
// - `Knative-Serving-Revision`, `Knative-Serving-Namespace` are dropped (activator routing);
// - one Host: the first (`:authority` for HTTP/2, which comes first), later ones are dropped, as
//   node keeps the first in `headers.host` and Go's HTTP/2 server takes `:authority`; an
//   absolute-form target's authority (`host`, see request-host.ts) replaces it;
// - `K-Original-Host`, when set, replaces `Host` and is dropped;
// - `TE` is dropped; when one of its fields lists the token `trailers`, `TE: trailers` is sent
//   (gRPC requires it), as Go's ReverseProxy does (HeaderValuesContainsToken, Go issue 21096);
// - HTTP/2 pseudo-headers are dropped, `:authority` becomes `Host`;
// - `Expect` is dropped: Node already answered `100 Continue`, and undici refuses the header;
// - the Forwarded shim runs on the client's X-Forwarded-* headers, then the client address is
//   appended to `X-Forwarded-For`.

const DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
  'knative-serving-revision', 'knative-serving-namespace', 'k-original-host', 'expect',
])

export interface HeaderRewriteOptions {
  /** Client address to append to X-Forwarded-For; null to leave XFF alone. */
  clientAddress: string | null
  /** Keep `Upgrade`/`Connection: upgrade` (websocket handshake). */
  isUpgrade: boolean
  /** Extra headers to add (flat pairs), e.g. `K-Proxy-Request: activator`. */
  extra: readonly string[] | null
  /** Header names (lowercase) to drop in addition to the hop-by-hop set. */
  drop: ReadonlySet<string> | null
}

/** `host`: the request's host when it is not its Host field (absoluteTargetHost), else null. */
export function buildUpstreamHeaders (raw: readonly string[], opts: HeaderRewriteOptions, host: string | null = null): string[] {
  const out: string[] = []
  let connectionTokens: string | null = null
  let originalHost: string | null = null
  let hostIndex = -1
  let xff: string | null = null
  let xfp = ''
  let xfh = ''
  let hasForwarded = false
  let hasTeTrailers = false

  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? ''
    const value = raw[i + 1] ?? ''
    if (name.charCodeAt(0) === 58 /* ':' */) {
      // HTTP/2 pseudo-headers: only :authority carries over (as Host when none was sent).
      if (name === ':authority' && hostIndex < 0) { hostIndex = out.length; out.push('host', value) }
      continue
    }
    const lower = name.toLowerCase()
    switch (lower) {
      case 'connection': connectionTokens = connectionTokens === null ? value : connectionTokens + ',' + value; continue
      case 'k-original-host': originalHost = value; continue
      case 'x-forwarded-for': xff = xff === null ? value : xff + ', ' + value; continue
      case 'x-forwarded-proto': if (xfp === '') xfp = value; break
      case 'x-forwarded-host': if (xfh === '') xfh = value; break
      case 'forwarded': hasForwarded = true; break
      case 'host': if (hostIndex >= 0) continue; hostIndex = out.length; break
      case 'upgrade': if (opts.isUpgrade) { out.push(name, value); continue } break
      case 'te': // gRPC needs it; one `TE: trailers` however many fields named it
        if (!hasTeTrailers && (value === 'trailers' || hasToken(value, 'trailers'))) { hasTeTrailers = true; out.push(name, 'trailers') }
        continue
    }
    if (DROP.has(lower) || (opts.drop !== null && opts.drop.has(lower))) continue
    out.push(name, value)
  }

  if (connectionTokens !== null && connectionTokens !== '') {
    // Headers listed in Connection are hop-by-hop for this hop only.
    const listed = listedNames(connectionTokens)
    if (listed !== null) hostIndex = dropListed(out, listed, hostIndex)
  }
  if (opts.isUpgrade) out.push('connection', 'upgrade')

  if (host !== null) {
    if (hostIndex >= 0) out[hostIndex + 1] = host
    else { hostIndex = out.length; out.push('host', host) }
  }
  if (originalHost !== null && originalHost !== '') {
    if (hostIndex >= 0) out[hostIndex + 1] = originalHost
    else out.push('host', originalHost)
  }

  if (!hasForwarded && ((xff !== null && xff !== '') || xfp !== '' || xfh !== '')) {
    out.push('forwarded', generateForwarded(xff ?? '', xfp, xfh))
  }
  if (opts.clientAddress !== null) {
    out.push('x-forwarded-for', xff !== null && xff !== '' ? xff + ', ' + opts.clientAddress : opts.clientAddress)
  } else if (xff !== null) {
    out.push('x-forwarded-for', xff)
  }
  if (opts.extra !== null) for (let i = 0; i < opts.extra.length; i++) out.push(opts.extra[i] ?? '')
  return out
}

const RESPONSE_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authenticate'])

/**
 * Response headers from undici's parsed object to a flat list for `res.writeHead`, without
 * hop-by-hop headers (Node frames the body itself).
 */
export function buildResponseHeaders (headers: Record<string, string | string[] | undefined>, extraName: string | null, extraValue: string): string[] {
  const out: string[] = []
  let connection: string | null = null
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined) continue
    if (name === 'connection') { connection = Array.isArray(value) ? value.join(',') : value; continue }
    if (RESPONSE_DROP.has(name)) continue
    if (Array.isArray(value)) for (let i = 0; i < value.length; i++) out.push(name, value[i] ?? '')
    else out.push(name, value)
  }
  if (connection !== null) {
    const listed = listedNames(connection)
    if (listed !== null) dropListed(out, listed, -1)
  }
  if (extraName !== null) out.push(extraName, extraValue)
  return out
}

/** `value`, a comma-separated list, holds `token` (ASCII case-insensitive, SP/HTAB trimmed): httpguts.headerValueContainsToken. */
function hasToken (value: string, token: string): boolean {
  const items = value.split(',')
  for (let i = 0; i < items.length; i++) if (trimOws(items[i] ?? '').toLowerCase() === token) return true
  return false
}

/**
 * The field names a Connection value lists (lowercase), without the connection options that name
 * no field; null when there are none (the common `keep-alive`, `close`, `upgrade`). `host` is not
 * one either: Go holds the host in r.Host, outside the header map that ReverseProxy prunes, so
 * `Connection: host` leaves it (dropping it here would send undici's default, the upstream's address).
 */
function listedNames (connection: string): Set<string> | null {
  let listed: Set<string> | null = null
  const tokens = connection.toLowerCase().split(',')
  for (let j = 0; j < tokens.length; j++) {
    const token = trimOws(tokens[j] ?? '')
    if (token === '' || token === 'upgrade' || token === 'close' || token === 'keep-alive' || token === 'host') continue
    if (listed === null) listed = new Set()
    listed.add(token)
  }
  return listed
}

/**
 * Removes the fields named in `listed` from the flat list in one pass: a client controls both
 * counts (a 64 KiB head holds thousands of each), so a loop per name over the fields would cost
 * names x fields (seconds for one request). Returns where the Host field moved, or -1 if it went.
 */
function dropListed (out: string[], listed: ReadonlySet<string>, hostIndex: number): number {
  let w = 0
  let host = -1
  for (let k = 0; k < out.length; k += 2) {
    const name = out[k] ?? ''
    if (listed.has(name.toLowerCase())) continue
    if (k === hostIndex) host = w
    out[w] = name
    out[w + 1] = out[k + 1] ?? ''
    w += 2
  }
  out.length = w
  return host
}
