import { Socket } from 'node:net'

// Reads of H1Server's plain TCP connections land in one process-wide buffer instead of a fresh
// allocation per read. By default Node allocates a 64 KiB native buffer per read, shrinks it to
// the bytes read and wraps it in a new ArrayBuffer + Buffer, then runs the Readable push/'data'
// path; at proxy rates that is a large share of the per-request work and of the external memory
// that drives V8's full collections (loadtest/results/activator-findings-2026-11-24.md).
//
// Safety rests on two facts: libuv reads one socket at a time and runs its callback before the
// next read, and the callback's owner copies whatever it keeps past the callback (a request head
// split across reads is copied by SectionReader; H1ServerConnection copies unparsed input and
// body bytes). So every connection may read into the same bytes.
//
// The switch uses Node's `onread` machinery (public for client sockets: net.connect({ onread }))
// on an accepted socket: the three symbols a socket created with `onread` carries, found once by
// description, and the handle's useUserBuffer. When either is missing (another Node, a TLS
// socket) the connection keeps 'data' events: slower, same behaviour.

/** Called with this = the socket; `buf` holds the read in [0, nread). True: keep reading. */
export type SharedReadCallback = (this: Socket, nread: number, buf: Buffer) => boolean

interface OnreadSymbols {
  readonly buffer: symbol
  readonly callback: symbol
  readonly generator: symbol
}

interface UserBufferHandle {
  useUserBuffer?: (buf: Uint8Array) => void
}

/** Largest single read; a request head over it arrives in several reads (SectionReader joins them). */
const SHARED_READ_BYTES = 64 * 1024
const sharedBuffer = Buffer.allocUnsafeSlow(SHARED_READ_BYTES)

const symbols = findOnreadSymbols()

function findOnreadSymbols (): OnreadSymbols | null {
  const probe = new Socket({ onread: { buffer: sharedBuffer, callback: () => true } })
  const own = Object.getOwnPropertySymbols(probe)
  const find = (description: string): symbol | undefined => own.find((s) => s.description === description)
  const buffer = find('kBuffer')
  const callback = find('kBufferCb')
  const generator = find('kBufferGen')
  probe.destroy()
  if (buffer === undefined || callback === undefined || generator === undefined) return null
  // The probe must show the documented shape: the buffer under kBuffer, the callback under kBufferCb.
  const fields = probe as unknown as Record<symbol, unknown>
  if (fields[buffer] !== sharedBuffer || typeof fields[callback] !== 'function') return null
  return { buffer, callback, generator }
}

/** Whether this Node offers the switch at all (tests). */
export const sharedReadsAvailable = symbols !== null

/**
 * Switches `socket` to reading into the shared buffer: from now on every read calls `callback`
 * instead of emitting 'data' ('end', 'close', pause() and resume() work as before). Returns false,
 * changing nothing, when the socket cannot be switched: TLS, no handle, or bytes already buffered
 * in its stream (they would arrive out of order).
 */
export function readIntoSharedBuffer (socket: Socket, callback: SharedReadCallback): boolean {
  if (symbols === null || 'encrypted' in socket || socket.readableLength > 0) return false
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle
  if (handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function') return false
  const fields = socket as unknown as Record<symbol, unknown>
  fields[symbols.buffer] = sharedBuffer
  fields[symbols.callback] = callback
  fields[symbols.generator] = null // keep the same buffer for every read
  handle.useUserBuffer(sharedBuffer)
  return true
}

/**
 * For a switched socket given to a stream consumer (node:http for an upgrade): each read is
 * copied and pushed onto the socket's stream, so 'data' listeners see it as before the switch.
 */
export function restoreStreamReads (socket: Socket): void {
  if (symbols === null) return
  const fields = socket as unknown as Record<symbol, unknown>
  if (fields[symbols.buffer] !== sharedBuffer) return
  fields[symbols.callback] = pushCopy
}

function pushCopy (this: Socket, nread: number, buf: Buffer): boolean {
  return this.push(Buffer.from(buf.subarray(0, nread)))
}

/** True when `buf` is a view of the shared read buffer (its bytes change with the next read). */
export function isSharedReadBytes (buf: Buffer): boolean {
  return buf.buffer === sharedBuffer.buffer
}
