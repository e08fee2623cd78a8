// The byte-level part of chunked transfer coding (RFC 9112 7.1), shared by H1ResponseParser
// (src/proxy) and H1RequestParser (src/server): chunk-size lines with extensions, the CRLF after
// each chunk's data, and the switch to the trailer section after the last chunk. The parsers own
// their state machines; the chunk states below are theirs too (same numbers in both), and chunk
// data itself is delivered by the parser as slices of its input.

export const S_CHUNK_SIZE = 3
export const S_CHUNK_EXT = 4
export const S_CHUNK_SIZE_LF = 5
export const S_CHUNK_DATA = 6
export const S_CHUNK_DATA_CR = 7
export const S_CHUNK_DATA_LF = 8
export const S_TRAILERS = 9

/** The parser fields chunk framing reads and writes. */
export interface ChunkFramingState {
  state: number
  /** Bytes left in the current chunk's data (the size being read, while in S_CHUNK_SIZE). */
  remaining: number
  chunkDigits: number
  chunkLineBytes: number
  /** Bounds a chunk-size line (extensions included). */
  readonly maxHeadBytes: number
  /** Why the last call returned -1. */
  framingError: string
}

const CR = 13
const LF = 10
const SP = 32
const HTAB = 9

/** Hex digit values, -1 elsewhere. */
const HEX = new Int8Array(256).fill(-1)
for (let c = 48; c <= 57; c++) HEX[c] = c - 48
for (let c = 65; c <= 70; c++) HEX[c] = c - 55
for (let c = 97; c <= 102; c++) HEX[c] = c - 87

/** 2^53 / 16: one more hex digit beyond this would leave the safe-integer range. */
const MAX_CHUNK_SIZE_BEFORE_DIGIT = Math.floor(Number.MAX_SAFE_INTEGER / 16)

/** Enters the first chunk-size line. */
export function startChunks (p: ChunkFramingState): void {
  p.state = S_CHUNK_SIZE
  p.remaining = 0
  p.chunkDigits = 0
  p.chunkLineBytes = 0
}

/**
 * Consumes framing bytes from buf[off, len) until chunk data, the trailer section, or the end of
 * the buffer. Returns the new offset, or -1 with `framingError` set.
 */
export function consumeChunkFraming (p: ChunkFramingState, buf: Buffer, off: number, len: number): number {
  let i = off
  for (; i < len; i++) {
    const c = buf[i] ?? 0
    switch (p.state) {
      case S_CHUNK_SIZE: {
        const h = HEX[c] ?? -1
        if (h >= 0) {
          if (p.remaining > MAX_CHUNK_SIZE_BEFORE_DIGIT) return fail(p, 'chunk size too large')
          p.remaining = p.remaining * 16 + h
          p.chunkDigits++
          break
        }
        if (p.chunkDigits === 0) return fail(p, 'bad chunk size')
        if (c === CR) { p.state = S_CHUNK_SIZE_LF; break }
        if (c === LF) return chunkSizeDone(p, i + 1)
        if (c === 59 /* ; */ || c === SP || c === HTAB) { p.state = S_CHUNK_EXT; break }
        return fail(p, 'bad chunk size')
      }
      case S_CHUNK_EXT:
        // Extensions are ignored, but bounded and free of control bytes.
        if (++p.chunkLineBytes > p.maxHeadBytes) return fail(p, 'chunk extension too large')
        if (c === CR) { p.state = S_CHUNK_SIZE_LF; break }
        if (c === LF) return chunkSizeDone(p, i + 1)
        if ((c < SP && c !== HTAB) || c === 127) return fail(p, 'bad chunk extension')
        break
      case S_CHUNK_SIZE_LF:
        if (c !== LF) return fail(p, 'bad chunk size line')
        return chunkSizeDone(p, i + 1)
      case S_CHUNK_DATA_CR:
        if (c === CR) { p.state = S_CHUNK_DATA_LF; break }
        if (c === LF) { startChunks(p); return i + 1 }
        return fail(p, 'missing CRLF after chunk data')
      case S_CHUNK_DATA_LF:
        if (c !== LF) return fail(p, 'missing CRLF after chunk data')
        startChunks(p)
        return i + 1
      default:
        return i
    }
  }
  return i
}

function chunkSizeDone (p: ChunkFramingState, next: number): number {
  if (p.remaining === 0) {
    // Last chunk: the trailer section (possibly just the empty line) follows. Its scan starts
    // fresh: the parser's section reader ended the head on an empty line.
    p.state = S_TRAILERS
  } else {
    p.state = S_CHUNK_DATA
  }
  return next
}

function fail (p: ChunkFramingState, message: string): number {
  p.framingError = message
  return -1
}
