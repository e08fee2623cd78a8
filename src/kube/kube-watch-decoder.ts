// The body of a Kubernetes watch: one JSON event per line, `{"type": ..., "object": ...}`, written as
// the API server has them, so a line may arrive in several chunks and a chunk may hold several lines.
// Lines are cut on the raw bytes (0x0a never occurs inside a UTF-8 sequence) and decoded whole.

import { KubeApiError } from '../shared/errors.ts'

/** Longer lines are refused (an object this big is not one the activator reads). */
export const MAX_WATCH_LINE_BYTES = 16 << 20

export interface WatchEventHandler {
  /** type as sent: ADDED, MODIFIED, DELETED, BOOKMARK, ERROR. */
  onWatchEvent (type: string, object: unknown): void
}

export class WatchDecoder {
  readonly #maxLineBytes: number
  /** The start of a line whose newline has not arrived; bounded by maxLineBytes. */
  readonly #partial: Buffer[] = []
  #partialBytes = 0
  #lines = 0

  constructor (maxLineBytes = MAX_WATCH_LINE_BYTES) {
    this.#maxLineBytes = maxLineBytes
  }

  /** Events decoded so far. */
  get lines (): number { return this.#lines }

  /** Hands each complete line of `chunk` to `handler`; returns why the stream is unusable, else null. */
  push (chunk: Buffer, handler: WatchEventHandler): KubeApiError | null {
    let start = 0
    for (;;) {
      const nl = chunk.indexOf(0x0a, start)
      if (nl < 0) break
      let line: Buffer
      if (this.#partialBytes === 0) line = chunk.subarray(start, nl)
      else {
        this.#partial.push(chunk.subarray(start, nl))
        line = Buffer.concat(this.#partial)
        this.#partial.length = 0
        this.#partialBytes = 0
      }
      start = nl + 1
      const err = this.#decode(line, handler)
      if (err !== null) return err
    }
    if (start < chunk.length) {
      this.#partialBytes += chunk.length - start
      if (this.#partialBytes > this.#maxLineBytes) return new KubeApiError(`watch event longer than ${this.#maxLineBytes} bytes`, null)
      this.#partial.push(chunk.subarray(start))
    }
    return null
  }

  /** At the end of the body: a line without its newline is a stream cut short. */
  end (handler: WatchEventHandler): KubeApiError | null {
    if (this.#partialBytes === 0) return null
    const line = Buffer.concat(this.#partial)
    this.#partial.length = 0
    this.#partialBytes = 0
    // The API server ends every event with a newline; a complete JSON value without one is still an event.
    return this.#decode(line, handler)
  }

  #decode (line: Buffer, handler: WatchEventHandler): KubeApiError | null {
    if (line.length === 0 || (line.length === 1 && line[0] === 0x0d)) return null
    let event: unknown
    try {
      event = JSON.parse(line.toString('utf8'))
    } catch (err) {
      return new KubeApiError(`malformed watch event: ${preview(line)}`, null, { cause: err })
    }
    if (typeof event !== 'object' || event === null || !('type' in event) || typeof event.type !== 'string' || !('object' in event)) {
      return new KubeApiError(`malformed watch event (no type or object): ${preview(line)}`, null)
    }
    this.#lines++
    handler.onWatchEvent(event.type, event.object)
    return null
  }
}

function preview (line: Buffer): string {
  const text = line.subarray(0, 120).toString('utf8')
  return JSON.stringify(line.length > 120 ? text + '...' : text)
}
