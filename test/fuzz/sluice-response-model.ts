import { H1ResponseParser, PARSE_DONE, PARSE_ERROR, PARSE_MORE, type ResponseHeaders, type ResponseSink } from '../../src/proxy/h1-response-parser.ts'
import { S_TRAILERS } from '../../src/shared/chunked-framing.ts'
import { newOutcome, type ParseOutcome } from './parse-outcome.ts'
import { EOF_MID_HEAD } from './sluice-request-model.ts'

// Sluice's verdict on response bytes: H1ResponseParser fed in-process in the pieces the fuzzer
// cuts, then the EOF (the oracle's server closes after writing). One response is read, as
// H1Upstream reads one per request; bytes after it are not this parser's business.

class Collector implements ResponseSink {
  status = 0
  headers: ResponseHeaders | null = null
  chunks: Buffer[] = []
  onParsedHead (statusCode: number, _statusText: string, headers: ResponseHeaders): boolean {
    this.status = statusCode
    this.headers = headers
    return true
  }

  onParsedBody (chunk: Buffer): boolean {
    this.chunks.push(Buffer.from(chunk))
    return true
  }
}

/** A headers object as a flat [name, value...] list (arrays spread in order). */
export function flattenHeaders (headers: ResponseHeaders | null): string[] {
  const out: string[] = []
  if (headers === null) return out
  for (const name in headers) {
    const v = headers[name]
    if (Array.isArray(v)) for (const x of v) out.push(name, x)
    else if (v !== undefined) out.push(name, String(v))
  }
  return out
}

export function parseResponseWithSluice (wire: Buffer, cuts: readonly number[], isHead: boolean): ParseOutcome {
  const out = newOutcome()
  const sink = new Collector()
  const parser = new H1ResponseParser(sink, 16 * 1024)
  parser.reset(isHead)
  const ends = [...cuts.filter((c) => c > 0 && c < wire.length), wire.length]
  let pieceStart = 0
  let done = false
  for (const end of ends) {
    // Each piece in a buffer of its own: the parser reads buf[0, len).
    const piece = Buffer.from(wire.subarray(pieceStart, end))
    pieceStart = end
    const r = parser.execute(piece, piece.length)
    if (r === PARSE_ERROR) {
      out.ending = 'error'
      out.code = parser.errorMessage
      return out
    }
    if (r === PARSE_DONE) { done = true; break }
    if (r !== PARSE_MORE) throw new Error(`unexpected parse result ${r}`)
  }
  if (!done && !parser.finish()) {
    out.ending = 'incomplete'
    out.code = parser.state === S_TRAILERS || sink.headers === null ? EOF_MID_HEAD : 'eof mid-body'
    if (sink.headers !== null) {
      out.pending = { method: String(sink.status), url: '', httpMinor: parser.httpMinor, rawHeaders: flattenHeaders(sink.headers), body: '', rawTrailers: [] }
    }
    return out
  }
  out.messages.push({
    method: String(sink.status),
    url: '',
    httpMinor: parser.httpMinor,
    rawHeaders: flattenHeaders(sink.headers),
    body: Buffer.concat(sink.chunks).toString('latin1'),
    rawTrailers: flattenHeaders(parser.trailers),
  })
  return out
}
