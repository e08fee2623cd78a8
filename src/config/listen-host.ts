/**
 * `--host` of the servers. The default, all addresses, is the empty string: Node then listens on
 * `::` with IPV6_V6ONLY off (IPv6 and IPv4 on one socket) where the machine has IPv6, else on
 * 0.0.0.0, as Go's `:8012` does. `0.0.0.0` would leave IPv6-only clusters unable to connect.
 */
export const ALL_ADDRESSES = ''

/** Where a process on this machine reaches a server listening on `host`: wildcards become loopback. */
export function localAddressOf (host: string): string {
  return host === ALL_ADDRESSES || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
}
