import type { IncomingHttpHeaders, OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http'

// What the proxy's request handlers use of a client request and its response. node:http's
// IncomingMessage/ServerResponse (HTTP/2 compat objects too) and Sluice's own H1ServerRequest/
// H1ServerResponse both fit, so one handler serves every server. Kept to what the handlers
// call: a smaller surface is a faster one to implement.

export interface InboundRequest {
  readonly method?: string | undefined
  readonly url?: string | undefined
  readonly headers: IncomingHttpHeaders
  /** Names as sent, then values: [name, value, name, value, ...]. */
  readonly rawHeaders: string[]
  readonly httpVersionMajor: number
  readonly httpVersionMinor: number
  readonly socket: { readonly remoteAddress?: string | undefined, readonly remotePort?: number | undefined }
  /** Some of the body was read (a replay would lose it). */
  readonly readableDidRead: boolean
  /** Reads and drops the body (so a keep-alive connection can carry the next request). */
  resume (): unknown
}

export interface InboundResponse {
  /** writeHead was called (the head may still be buffered). */
  readonly headersSent: boolean
  readonly destroyed: boolean
  writeHead (statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): unknown
  flushHeaders (): void
  write (chunk: Uint8Array): boolean
  /**
   * Whether the last write() may still reference its chunk's memory (queued on the socket).
   * false: it was copied or written out whole, so the caller may reuse that memory at once.
   * Absent (node:http, HTTP/2): assume it does.
   */
  readonly holdsLastChunk?: boolean
  end (chunk?: Uint8Array): unknown
  addTrailers (headers: OutgoingHttpHeaders | ReadonlyArray<[string, string]>): void
  destroy (error?: Error): unknown
  on (event: 'close', listener: () => void): unknown
  once (event: 'drain', listener: () => void): unknown
}
