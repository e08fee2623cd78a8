import type { Socket } from 'node:net'
import { createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls'
import type { Logger } from '../shared/logger.ts'
import type { DualServer } from './h2c-sniffing-server.ts'

// A TLS listening socket in front of a port's servers (Knative's queue-proxy serves the same
// handler on 8112 with TLS). The handshake's ALPN picks the server, as Go's ServeTLS does:
// "h2" -> the port's http2 server (the compat API, like h2c), "http/1.1" or no ALPN -> its
// HTTP/1.1 server (H1Server, or node:http with `--http-server node`). So a TLS connection is
// timed, drained and closed by the same code as a plain one: closeIdleConnections(servers) and
// closeAllConnections(servers) cover both ports.

export interface TlsListenerOptions {
  /** Certificate, key, versions, ciphers, curves (tls.createSecureContext options). */
  secure: SecureContextOptions
  /** A handshake must finish within this long (Go bounds it by ReadHeaderTimeout). */
  handshakeTimeoutMs: number
  logger: Logger
}

/**
 * Until its handshake ends a connection belongs to no HTTP server: it waits in `servers.silent`
 * (keyed here by peer address, the one link between the TCP socket the server accepts and the
 * TLSSocket it hands over), so a drain closes it like a plain connection that sent nothing.
 */
export function createTlsListener (servers: DualServer, options: TlsListenerOptions): TlsServer {
  const log = options.logger
  const handshaking = new Map<string, Socket>()
  const server = createTlsServer({
    ...options.secure,
    ALPNProtocols: servers.acceptsH2 ? ['h2', 'http/1.1'] : ['http/1.1'],
    handshakeTimeout: options.handshakeTimeoutMs,
    noDelay: true,
    keepAlive: true,
  })
  server.on('connection', (raw: Socket) => {
    const key = peerKey(raw)
    if (key === null) return // already gone
    handshaking.set(key, raw)
    servers.silent.add(raw)
    raw.once('close', () => {
      servers.silent.delete(raw)
      if (handshaking.get(key) === raw) handshaking.delete(key)
    })
  })
  server.on('secureConnection', (socket: TLSSocket) => {
    const key = peerKey(socket)
    const raw = key === null ? undefined : handshaking.get(key)
    if (key !== null && raw !== undefined) {
      handshaking.delete(key)
      servers.silent.delete(raw)
    }
    if (socket.alpnProtocol === 'h2' && servers.acceptsH2) servers.h2.emit('connection', socket)
    else if (servers.h1 !== null) servers.h1.accept(socket, null)
    else servers.http.emit('connection', socket)
  })
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    // Scanners, clients that distrust the certificate, version or cipher mismatches: routine.
    log.debug({ err, remoteAddress: socket.remoteAddress }, 'TLS handshake failed')
    socket.destroy()
  })
  return server
}

function peerKey (socket: Socket): string | null {
  const port = socket.remotePort
  return port === undefined ? null : `${socket.remoteAddress ?? ''} ${port}`
}
