import { H1RequestParser, PARSE_DONE, PARSE_ERROR, PARSE_MORE, PARSE_STOPPED, type RequestSink } from '../../src/server/h1-request-parser.ts'
import { S_TRAILERS } from '../../src/shared/chunked-framing.ts'
import { newOutcome, type ParsedMessage, type ParseOutcome } from './parse-outcome.ts'

// Sluice's verdict on request bytes: H1RequestParser fed in-process, in pieces cut where the
// fuzzer says (every cut must give the same result), with the refusals H1ServerConnection
// makes from the parser's facts (missing Host on HTTP/1.1: 400) and its rule that a request
// without keep-alive is the connection's last.

class Collector implements RequestSink {
  chunks: Buffer[] = []
  /**
   * H1ServerConnection refuses an HTTP/1.1 head without Host (400) and an Expect other than
   * 100-continue (417) as soon as the head is read, and closes.
   */
  onParsedRequestHead (parser: H1RequestParser): boolean {
    return (parser.httpMinor < 1 || parser.hasHost) && !parser.expectUnsupported
  }
  onParsedRequestBody (chunk: Buffer): boolean {
    this.chunks.push(Buffer.from(chunk))
    return true
  }
}

export const MAX_HEAD_BYTES = 16 * 1024

/** The ending's code when bytes follow a request after which the connection closes. */
export const CLOSED_WITHOUT_KEEP_ALIVE = 'closed after a request without keep-alive'

/**
 * The ending's code when the input stopped inside a head or a trailer section: Sluice checks a
 * section once its empty line arrived, llhttp byte by byte, so a bad byte in a section cut short
 * is an error for llhttp and still pending for us (and an error once the section ends).
 */
export const EOF_MID_HEAD = 'eof inside a head or trailer section'

/** Parses `wire` delivered in pieces ending at `cuts` (sorted offsets inside it). */
export function parseRequestsWithSluice (wire: Buffer, cuts: readonly number[]): ParseOutcome {
  const out = newOutcome()
  const sink = new Collector()
  const parser = new H1RequestParser(sink, MAX_HEAD_BYTES)
  const ends = [...cuts.filter((c) => c > 0 && c < wire.length), wire.length]
  let pieceStart = 0
  let off = 0
  for (const end of ends) {
    const piece = wire.subarray(pieceStart, end)
    pieceStart = end
    off = 0
    while (off < piece.length) {
      const r = parser.execute(piece, off, piece.length)
      if (r === PARSE_ERROR) {
        out.ending = 'error'
        out.code = `${parser.errorStatus} ${parser.errorMessage}`
        return out
      }
      if (r === PARSE_MORE) { off = piece.length; break }
      if (r === PARSE_STOPPED) {
        out.ending = 'error'
        out.code = parser.expectUnsupported ? '417 unsupported Expect header' : '400 missing required Host header'
        return out
      }
      if (r !== PARSE_DONE) throw new Error(`unexpected parse result ${r}`)
      off = parser.consumed
      const message: ParsedMessage = {
        method: parser.method,
        url: parser.url,
        httpMinor: parser.httpMinor,
        rawHeaders: parser.rawHeaders,
        body: Buffer.concat(sink.chunks).toString('latin1'),
        rawTrailers: parser.rawTrailers,
      }
      out.messages.push(message)
      sink.chunks = []
      if (!parser.keepAlive) {
        // The connection closes after this answer; later bytes are never parsed.
        // CR and LF between messages are skipped by both parsers (RFC 9112 2.2), even here.
        let rest = off
        while (rest < piece.length && (piece[rest] === 13 || piece[rest] === 10)) rest++
        let restOfWire = pieceStart
        while (restOfWire < wire.length && (wire[restOfWire] === 13 || wire[restOfWire] === 10)) restOfWire++
        if (rest < piece.length || restOfWire < wire.length) {
          out.ending = 'closed'
          out.code = CLOSED_WITHOUT_KEEP_ALIVE
        }
        return out
      }
      parser.reset()
    }
  }
  if (parser.hasStarted && !parser.isDone) {
    out.ending = 'incomplete'
    if (parser.isReadingHead || parser.state === S_TRAILERS) {
      out.code = EOF_MID_HEAD
    } else {
      out.code = 'eof mid-body'
      out.pending = {
        method: parser.method,
        url: parser.url,
        httpMinor: parser.httpMinor,
        rawHeaders: parser.rawHeaders,
        body: Buffer.concat(sink.chunks).toString('latin1'),
        rawTrailers: [],
      }
    }
  }
  return out
}
