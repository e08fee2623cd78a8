// One catalogue of Sluice errors. Codes are stable (operators grep for them): never rename one.
// Expected outcomes on the hot path (queue full, no capacity) are returned as values, not thrown;
// these classes are for real failures and for mapping a failure to a status in one place.

export class SluiceError extends Error {
  readonly code: string
  readonly statusCode: number
  constructor (code: string, message: string, statusCode = 500, options?: ErrorOptions) {
    super(message, options)
    this.name = 'SluiceError'
    this.code = code
    this.statusCode = statusCode
  }
}

/** A configuration value is missing or invalid. Reported at start; the process exits 2. */
export class ConfigError extends SluiceError {
  readonly problems: readonly string[]
  constructor (problems: readonly string[]) {
    super('SLUICE_ERR_CONFIG_INVALID', problems.join('\n'), 0)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/**
 * The codes of the answers Sluice gives itself rather than relays from the app (a 503 from the
 * queue, a 504 timeout, a 502 for an app that could not be reached, a 404 for an unknown revision,
 * the admin API's errors). Each such response names its code in the `x-sluice-error` header (the
 * admin API also in its JSON body), and the request log line in `error`; failures raised as
 * SluiceError subclasses below use their own `code`. Never renamed: operators match on them.
 */
export const ANSWER_CODES = Object.freeze({
  queueFull: 'SLUICE_ERR_ADMISSION_QUEUE_FULL',
  queueTimeout: 'SLUICE_ERR_ADMISSION_QUEUE_TIMEOUT',
  upstream: 'SLUICE_ERR_PROXY_UPSTREAM',
  timeout: 'SLUICE_ERR_PROXY_TIMEOUT',
  revisionNotFound: 'SLUICE_ERR_ACTIVATOR_REVISION_NOT_FOUND',
  noCapacity: 'SLUICE_ERR_ACTIVATOR_NO_CAPACITY',
  adminRouteNotFound: 'SLUICE_ERR_ADMIN_ROUTE_NOT_FOUND',
  adminMethodNotAllowed: 'SLUICE_ERR_ADMIN_METHOD_NOT_ALLOWED',
  adminInvalidJson: 'SLUICE_ERR_ADMIN_INVALID_JSON',
  adminInvalidRevision: 'SLUICE_ERR_ADMIN_INVALID_REVISION',
  adminBodyTooLarge: 'SLUICE_ERR_ADMIN_BODY_TOO_LARGE',
  adminHostConflict: 'SLUICE_ERR_ADMIN_HOST_CONFLICT',
  adminNotStarted: 'SLUICE_ERR_ADMIN_NOT_STARTED',
  adminInternal: 'SLUICE_ERR_ADMIN_INTERNAL',
  adminUnauthorized: 'SLUICE_ERR_ADMIN_UNAUTHORIZED',
  adminReadOnly: 'SLUICE_ERR_ADMIN_READ_ONLY',
  profilingNotFound: 'SLUICE_ERR_PROFILING_NOT_FOUND',
  profilingMethodNotAllowed: 'SLUICE_ERR_PROFILING_METHOD_NOT_ALLOWED',
  profilingBadRequest: 'SLUICE_ERR_PROFILING_BAD_REQUEST',
  profilingBusy: 'SLUICE_ERR_PROFILING_BUSY',
  profilingFailed: 'SLUICE_ERR_PROFILING_FAILED',
})

/** The response header naming the code of an answer Sluice gave itself. */
export const ERROR_CODE_HEADER = 'x-sluice-error'

/** A protobuf stats message (Stat, WireStatMessages) could not be decoded. 400. */
export class StatDecodeError extends SluiceError {
  constructor (message: string, options?: ErrorOptions) {
    super('SLUICE_ERR_STATS_DECODE', message, 400, options)
    this.name = 'StatDecodeError'
  }
}

/** A revision source could not start (Kubernetes API unreachable, refused or answering garbage). */
export class RevisionSourceError extends SluiceError {
  constructor (message: string, options?: ErrorOptions) {
    super('SLUICE_ERR_ACTIVATOR_SOURCE_FAILED', message, 500, options)
    this.name = 'RevisionSourceError'
  }
}

/** The activator's revision admin API failed or refused a change (autoscaler -> activator). 502. */
export class ActivatorAdminError extends SluiceError {
  constructor (message: string, options?: ErrorOptions) {
    super('SLUICE_ERR_AUTOSCALER_ACTIVATOR_ADMIN', message, 502, options)
    this.name = 'ActivatorAdminError'
  }
}

/** A local pod (sidecar + user app) failed to start or exited unexpectedly. 503. */
export class PodStartError extends SluiceError {
  constructor (message: string, options?: ErrorOptions) {
    super('SLUICE_ERR_AUTOSCALER_POD_START', message, 503, options)
    this.name = 'PodStartError'
  }
}

/**
 * Sluice's own HTTP/1.1 client (h1-upstream) lost its connection, could not open one in time, or
 * was closed. The codes are undici's on purpose: the exchange's replay rule (the keep-alive race,
 * Knative issue 12414) and operators read the same code whichever client runs. 502.
 */
export class UpstreamConnectionError extends SluiceError {
  constructor (code: 'UND_ERR_SOCKET' | 'UND_ERR_CONNECT_TIMEOUT' | 'UND_ERR_CLOSED', message: string, options?: ErrorOptions) {
    super(code, message, 502, options)
    this.name = 'UpstreamConnectionError'
  }
}

/** The user container answered something that is not valid HTTP/1.1 (or over our size limits). 502. */
export class UpstreamProtocolError extends SluiceError {
  constructor (message: string) {
    super('SLUICE_ERR_PROXY_UPSTREAM_PROTOCOL', message, 502)
    this.name = 'UpstreamProtocolError'
  }
}

/** A request could not be written as HTTP/1.1 (CR/LF or other bytes not allowed in a method, path or header). 400. */
export class InvalidUpstreamRequestError extends SluiceError {
  constructor (message: string) {
    super('SLUICE_ERR_PROXY_REQUEST_INVALID', message, 400)
    this.name = 'InvalidUpstreamRequestError'
  }
}

/** Every upstream connection is busy and the client's wait list is full. 503. */
export class UpstreamQueueFullError extends SluiceError {
  constructor () {
    super('SLUICE_ERR_PROXY_UPSTREAM_QUEUE_FULL', 'upstream connection queue full', 503)
    this.name = 'UpstreamQueueFullError'
  }
}

/** The client's request body broke its framing (a bad chunk) while it was being forwarded. 400. */
export class MalformedRequestBodyError extends SluiceError {
  constructor (message: string) {
    super('SLUICE_ERR_SERVER_BODY_MALFORMED', `malformed request body: ${message}`, 400)
    this.name = 'MalformedRequestBodyError'
  }
}

/** A handler wrote a response head twice, or one with a CR/LF or a bad Content-Length. 500. */
export class ResponseHeadError extends SluiceError {
  constructor (message: string) {
    super('SLUICE_ERR_SERVER_RESPONSE_HEAD', message, 500)
    this.name = 'ResponseHeadError'
  }
}

/** The TLS certificate or key could not be read, or they do not make a usable pair. */
export class CertificateLoadError extends SluiceError {
  constructor (message: string, options?: ErrorOptions) {
    super('SLUICE_ERR_TLS_CERT_LOAD', message, 500, options)
    this.name = 'CertificateLoadError'
  }
}

/**
 * The TLS handshake with an endpoint failed: its certificate does not chain to the trusted CA, lacks
 * the name the dialer expects (Knative: data-plane.knative.dev and kn-user-<namespace>), or the
 * handshake broke. Treated as a connect failure (the endpoint is re-probed). 502.
 */
export class UpstreamTlsError extends SluiceError {
  constructor (message: string, options?: ErrorOptions) {
    super('SLUICE_ERR_PROXY_UPSTREAM_TLS', message, 502, options)
    this.name = 'UpstreamTlsError'
  }
}

/**
 * A Kubernetes API request failed (activator `--source kubernetes`): `status` is the HTTP status when
 * the API server answered (the message carries its Status message), null when it could not be reached
 * (refused, TLS verification, reset mid-stream).
 */
export class KubeApiError extends SluiceError {
  readonly status: number | null
  constructor (message: string, status: number | null, options?: ErrorOptions) {
    super('SLUICE_ERR_KUBE_API', message, 502, options)
    this.name = 'KubeApiError'
    this.status = status
  }
}

/**
 * Credentials for the Kubernetes API could not be had: a kubeconfig exec plugin failed, timed out or
 * printed no usable ExecCredential.
 */
export class KubeCredentialsError extends SluiceError {
  constructor (message: string, options?: ErrorOptions) {
    super('SLUICE_ERR_KUBE_CREDENTIALS', message, 502, options)
    this.name = 'KubeCredentialsError'
  }
}

/**
 * websocket/websocket-client.ts: the URL is not ws:// or wss:// with a host, or has a fragment
 * (RFC 6455 3). The activator's config checks the scheme at start; this is the client's own guard.
 */
export class WebSocketUrlError extends SluiceError {
  constructor (message: string) {
    super('SLUICE_ERR_WEBSOCKET_URL', message, 500)
    this.name = 'WebSocketUrlError'
  }
}

/**
 * The opening handshake failed (RFC 6455 4.1): an answer other than 101 (`responseStatus` says
 * which), a wrong Sec-WebSocket-Accept, no `Upgrade: websocket`, an extension or subprotocol we
 * did not offer, or a head that is not HTTP/1.1.
 */
export class WebSocketHandshakeError extends SluiceError {
  /** The answer's status code; 0 when the answer had none (garbage, or a head too large). */
  readonly responseStatus: number
  constructor (message: string, responseStatus = 0) {
    super('SLUICE_ERR_WEBSOCKET_HANDSHAKE', message, 502)
    this.name = 'WebSocketHandshakeError'
    this.responseStatus = responseStatus
  }
}

/** No 101 answer within the handshake timeout (connect and TLS included; Knative: 3 s). */
export class WebSocketHandshakeTimeoutError extends SluiceError {
  constructor (timeoutMs: number) {
    super('SLUICE_ERR_WEBSOCKET_HANDSHAKE_TIMEOUT', `no websocket handshake answer within ${timeoutMs} ms`, 504)
    this.name = 'WebSocketHandshakeTimeoutError'
  }
}

/**
 * The peer broke RFC 6455 framing: a masked frame, reserved bits or opcodes, a fragmented or
 * oversized control frame, a continuation out of place, a bad close code (close 1002), or text
 * that is not UTF-8 (1007). `closeCode` is what we sent it before closing.
 */
export class WebSocketProtocolError extends SluiceError {
  readonly closeCode: number
  constructor (message: string, closeCode = 1002) {
    super('SLUICE_ERR_WEBSOCKET_PROTOCOL', message, 502)
    this.name = 'WebSocketProtocolError'
    this.closeCode = closeCode
  }
}

/** A message (all its fragments) over the client's `maxMessageBytes`: closed with 1009. */
export class WebSocketMessageTooLargeError extends SluiceError {
  readonly closeCode: number
  constructor (maxBytes: number) {
    super('SLUICE_ERR_WEBSOCKET_MESSAGE_TOO_LARGE', `websocket message over ${maxBytes} bytes`, 502)
    this.name = 'WebSocketMessageTooLargeError'
    this.closeCode = 1009
  }
}

/**
 * The connection went down without a close handshake: a socket error (the cause), the peer
 * closing before its 101, mid-frame or without a close frame, or not answering our close frame.
 */
export class WebSocketConnectionError extends SluiceError {
  constructor (message: string, options?: ErrorOptions) {
    super('SLUICE_ERR_WEBSOCKET_CONNECTION', message, 502, options)
    this.name = 'WebSocketConnectionError'
  }
}
