import type { IncomingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import { Readable } from 'node:stream'

// One request read by H1Server: the parsed head as plain fields (the names node's
// IncomingMessage uses, so handlers serve both servers) and, only when the request has a body,
// a Readable of it. A bodyless request (most of them) allocates no stream at all.

/** Where a body stream asks for more bytes or reports that nobody wants the rest. */
export interface BodySource {
  onBodyRead (): void
  onBodyDestroyed (body: H1RequestBody): void
}

function ignoreError (): void {}

export class H1RequestBody extends Readable {
  readonly source: BodySource
  /** Every byte of the body arrived (push(null) was called). */
  isComplete: boolean

  constructor (source: BodySource) {
    super({ highWaterMark: 64 * 1024 })
    this.source = source
    this.isComplete = false
    // An abort ('client closed the connection') is emitted on the next tick; its reader (an
    // upstream request) may have let go by then, and an unheard 'error' would end the process.
    this.on('error', ignoreError)
  }

  override _read (): void { this.source.onBodyRead() }

  override _destroy (err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.isComplete) this.source.onBodyDestroyed(this)
    callback(err)
  }
}

export class H1ServerRequest {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly rawHeaders: string[]
  readonly httpVersionMajor: number
  readonly httpVersionMinor: number
  readonly socket: Socket
  /** The body, or null for a request without one. */
  readonly body: H1RequestBody | null
  /** Trailer fields of a chunked body, once it is complete. */
  rawTrailers: string[]

  constructor (method: string, url: string, headers: IncomingHttpHeaders, rawHeaders: string[], httpVersionMinor: number,
    socket: Socket, body: H1RequestBody | null) {
    this.method = method
    this.url = url
    this.headers = headers
    this.rawHeaders = rawHeaders
    this.httpVersionMajor = 1
    this.httpVersionMinor = httpVersionMinor
    this.socket = socket
    this.body = body
    this.rawTrailers = EMPTY
  }

  get httpVersion (): string { return this.httpVersionMinor === 0 ? '1.0' : '1.1' }

  get readableDidRead (): boolean { return this.body !== null && this.body.readableDidRead }

  /** The whole body arrived (always true without one). */
  get complete (): boolean { return this.body === null || this.body.isComplete }

  /** Drops the body: the connection reads and discards the rest. */
  resume (): this {
    if (this.body !== null && !this.body.destroyed) this.body.resume()
    return this
  }
}

const EMPTY: string[] = []
