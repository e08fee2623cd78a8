// The errors that mean "the request never reached the app": the connection to the endpoint was
// refused, timed out, could not be routed, or failed its TLS handshake. One list for the exchange's
// replay rule and the activator's endpoint health (which sends such an endpoint back to probing).

export const CONNECT_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT', // our clients' connect timeout (undici's code, kept for both)
  'ETIMEDOUT', // the kernel's connect timeout (SYN retries used up)
  'EHOSTUNREACH',
  'ENETUNREACH',
  'SLUICE_ERR_PROXY_UPSTREAM_TLS', // system-internal-tls: the endpoint failed verification
])

export function isConnectError (err: Error): boolean {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && CONNECT_ERROR_CODES.has(code)
}
