// Finds the end of an HTTP/1.1 field section (a head, or a chunked body's trailers: lines up to
// the empty line) across reads, for H1ResponseParser (src/proxy) and H1RequestParser
// (src/server). A section that fits in one read is returned as a range of that buffer (no copy);
// one that straddles reads is kept as copies (a few head bytes must not pin a whole read buffer)
// and joined once its end arrives. Bounded by `maxBytes` across all its pieces.

/** `read`: the end is not in this buffer; its bytes were kept. */
export const SECTION_MORE = -1
/** `read`: the section is over `maxBytes`. */
export const SECTION_TOO_LARGE = -2

export class SectionReader {
  readonly maxBytes: number
  /** Copies of the section's bytes from earlier reads. */
  pending: Buffer[]
  pendingBytes: number
  /** Length of the current line so far, CR excluded: the scan survives read boundaries. */
  lineLength: number
  /** After a successful `read`: the whole section is section[start, stop), its empty line included. */
  section: Buffer
  start: number
  stop: number

  constructor (maxBytes: number) {
    this.maxBytes = maxBytes
    this.pending = []
    this.pendingBytes = 0
    this.lineLength = 0
    this.section = EMPTY
    this.start = 0
    this.stop = 0
  }

  /** No byte of a section read yet (nothing kept, no line begun). */
  get isAtStart (): boolean { return this.pendingBytes === 0 && this.lineLength === 0 }

  reset (): void {
    if (this.pendingBytes > 0) { this.pending.length = 0; this.pendingBytes = 0 }
    this.lineLength = 0
    this.section = EMPTY
  }

  /**
   * Looks for the section's end in buf[off, len). Returns the index just past its empty line
   * (then `section`, `start`, `stop` describe the whole section), SECTION_MORE (buf[off, len) was
   * copied and kept) or SECTION_TOO_LARGE.
   */
  read (buf: Buffer, off: number, len: number): number {
    const end = this.#findEnd(buf, off, len)
    if (end < 0) {
      const n = len - off
      if (this.pendingBytes + n > this.maxBytes) return SECTION_TOO_LARGE
      this.pending.push(Buffer.from(buf.subarray(off, len)))
      this.pendingBytes += n
      return SECTION_MORE
    }
    if (this.pendingBytes === 0) {
      if (end - off > this.maxBytes) return SECTION_TOO_LARGE
      this.section = buf
      this.start = off
      this.stop = end
      return end
    }
    const total = this.pendingBytes + (end - off)
    if (total > this.maxBytes) return SECTION_TOO_LARGE
    this.pending.push(buf.subarray(off, end))
    this.section = Buffer.concat(this.pending, total)
    this.pending.length = 0
    this.pendingBytes = 0
    this.start = 0
    this.stop = total
    return end
  }

  #findEnd (buf: Buffer, off: number, len: number): number {
    let lineLength = this.lineLength
    for (let i = off; i < len; i++) {
      const c = buf[i]
      if (c === LF) {
        if (lineLength === 0) { this.lineLength = 0; return i + 1 }
        lineLength = 0
      } else if (c !== CR) {
        lineLength++
      }
    }
    this.lineLength = lineLength
    return -1
  }
}

const CR = 13
const LF = 10
const EMPTY = Buffer.alloc(0)
