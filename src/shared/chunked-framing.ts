// The byte-level part of chunked transfer coding (RFC 9112 7.1), shared by H1ResponseParser
// (src/proxy) and H1RequestParser (src/server): chunk-size lines with extensions, the CRLF after
// each chunk's data, and the switch to the trailer section after the last chunk. The parsers own
// their state machines; the chunk states below are theirs too (same numbers in both), and chunk
// data itself is delivered by the parser as slices of its input.

import { TOKEN } from './http-syntax.ts'

export const S_CHUNK_SIZE = 3
export const S_CHUNK_EXT = 4
export const S_CHUNK_SIZE_LF = 5
export const S_CHUNK_DATA = 6
export const S_CHUNK_DATA_CR = 7
export const S_CHUNK_DATA_LF = 8
export const S_TRAILERS = 9

// Where S_CHUNK_EXT is inside `;name[=value]` (chunkExtState). RFC 9112 7.1.1 with llhttp's
// strictness: no whitespace anywhere in the line (BWS is allowed by the RFC, refused by llhttp
// and by us, since a front end and we must agree on where a chunk-size line ends), a name of
// tchars, a value of tchars or a quoted-string.
const EXT_NAME_START = 0
const EXT_NAME = 1
const EXT_VALUE_START = 2
const EXT_TOKEN = 3
const EXT_QUOTED = 4
const EXT_QUOTED_PAIR = 5
const EXT_QUOTED_END = 6

/** The parser fields chunk framing reads and writes. */
export interface ChunkFramingState {
  state: number
  /** Bytes left in the current chunk's data (the size being read, while in S_CHUNK_SIZE). */
  remaining: number
  chunkDigits: number
  chunkLineBytes: number
  /** Position inside a chunk extension (EXT_*), while in S_CHUNK_EXT. */
  chunkExtState: number
  /** Bounds a chunk-size line (extensions included). */
  readonly maxHeadBytes: number
  /** Why the last call returned -1. */
  framingError: string
}

const CR = 13
const LF = 10
const SP = 32
const HTAB = 9
const SEMICOLON = 59
const EQUALS = 61
const DQUOTE = 34
const BACKSLASH = 92

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
  p.chunkExtState = EXT_NAME_START
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
        // Only CRLF or an extension may follow the digits: no bare LF, no whitespace (as llhttp).
        if (c === CR) { p.state = S_CHUNK_SIZE_LF; break }
        if (c === SEMICOLON) { p.state = S_CHUNK_EXT; p.chunkExtState = EXT_NAME_START; break }
        return fail(p, 'bad chunk size')
      }
      case S_CHUNK_EXT:
        // Extensions are ignored, but bounded and well formed.
        if (++p.chunkLineBytes > p.maxHeadBytes) return fail(p, 'chunk extension too large')
        if (!consumeExtensionByte(p, c)) return fail(p, 'bad chunk extension')
        break
      case S_CHUNK_SIZE_LF:
        if (c !== LF) return fail(p, 'bad chunk size line')
        return chunkSizeDone(p, i + 1)
      case S_CHUNK_DATA_CR:
        if (c === CR) { p.state = S_CHUNK_DATA_LF; break }
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

/** One byte of `;name[=value]...CR`; false when it does not fit the grammar. */
function consumeExtensionByte (p: ChunkFramingState, c: number): boolean {
  switch (p.chunkExtState) {
    case EXT_NAME_START:
      if (TOKEN[c] !== 1) return false
      p.chunkExtState = EXT_NAME
      return true
    case EXT_NAME:
      if (TOKEN[c] === 1) return true
      if (c === EQUALS) { p.chunkExtState = EXT_VALUE_START; return true }
      return extensionEnd(p, c)
    case EXT_VALUE_START:
      if (c === DQUOTE) { p.chunkExtState = EXT_QUOTED; return true }
      if (TOKEN[c] === 1) { p.chunkExtState = EXT_TOKEN; return true }
      return extensionEnd(p, c) // an empty value, as llhttp takes it
    case EXT_TOKEN:
      if (TOKEN[c] === 1) return true
      return extensionEnd(p, c)
    case EXT_QUOTED:
      // qdtext: HTAB, SP, VCHAR except DQUOTE and backslash, obs-text.
      if (c === DQUOTE) { p.chunkExtState = EXT_QUOTED_END; return true }
      if (c === BACKSLASH) { p.chunkExtState = EXT_QUOTED_PAIR; return true }
      return c === HTAB || (c >= SP && c !== 127)
    case EXT_QUOTED_PAIR:
      p.chunkExtState = EXT_QUOTED
      return c === HTAB || (c >= SP && c !== 127)
    default: // EXT_QUOTED_END
      return extensionEnd(p, c)
  }
}

/** After a name or value: another extension, or the CR of the line's end. */
function extensionEnd (p: ChunkFramingState, c: number): boolean {
  if (c === SEMICOLON) { p.chunkExtState = EXT_NAME_START; return true }
  if (c === CR && p.chunkExtState !== EXT_NAME_START) { p.state = S_CHUNK_SIZE_LF; return true }
  return false
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
