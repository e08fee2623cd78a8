import { isPrint } from './go-fmt.ts'

// text/template/parse lex.go: the template text as items, with Go's positions and line numbers.
// Lexed in one pass at compile time; a lexing error becomes an ITEM_ERROR item (then EOF) where
// Go's lexer would emit it, so the parser reports whichever problem Go's parser meets first.
// Positions are indexes into the JS string (UTF-16 units); go-template-parse.ts turns them into
// Go's byte columns when it reports an execution error.

export const ITEM_ERROR = 0
export const ITEM_BOOL = 1
export const ITEM_CHAR = 2
export const ITEM_CHAR_CONSTANT = 3
export const ITEM_COMMENT = 4
export const ITEM_COMPLEX = 5
export const ITEM_ASSIGN = 6
export const ITEM_DECLARE = 7
export const ITEM_EOF = 8
export const ITEM_FIELD = 9
export const ITEM_IDENTIFIER = 10
export const ITEM_LEFT_DELIM = 11
export const ITEM_LEFT_PAREN = 12
export const ITEM_NUMBER = 13
export const ITEM_PIPE = 14
export const ITEM_RAW_STRING = 15
export const ITEM_RIGHT_DELIM = 16
export const ITEM_RIGHT_PAREN = 17
export const ITEM_SPACE = 18
export const ITEM_STRING = 19
export const ITEM_TEXT = 20
export const ITEM_VARIABLE = 21
// Keywords (Go: > itemKeyword); printed as <val>.
export const ITEM_KEYWORD = 30
export const ITEM_BLOCK = 31
export const ITEM_BREAK = 32
export const ITEM_CONTINUE = 33
export const ITEM_DOT = 34
export const ITEM_DEFINE = 35
export const ITEM_ELSE = 36
export const ITEM_END = 37
export const ITEM_IF = 38
export const ITEM_NIL = 39
export const ITEM_RANGE = 40
export const ITEM_TEMPLATE = 41
export const ITEM_WITH = 42

const KEYWORDS: ReadonlyMap<string, number> = new Map([
  ['.', ITEM_DOT], ['block', ITEM_BLOCK], ['break', ITEM_BREAK], ['continue', ITEM_CONTINUE], ['define', ITEM_DEFINE],
  ['else', ITEM_ELSE], ['end', ITEM_END], ['if', ITEM_IF], ['range', ITEM_RANGE], ['nil', ITEM_NIL],
  ['template', ITEM_TEMPLATE], ['with', ITEM_WITH],
])

export interface Item {
  readonly typ: number
  readonly pos: number
  readonly val: string
  readonly line: number
}

/** lex.go item.String(): how the parser names an item in its messages. */
export function itemString (i: Item): string {
  if (i.typ === ITEM_EOF) return 'EOF'
  if (i.typ === ITEM_ERROR) return i.val
  if (i.typ > ITEM_KEYWORD) return `<${i.val}>`
  if (utf8Length(i.val) > 10) return `${goQuotePrefix(i.val, 10)}...`
  return goQuote(i.val)
}

/** UTF-8 byte length. */
export function utf8Length (s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n++
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++ } else n += 3
  }
  return n
}

/** Go's %q of a string (strconv.Quote). */
export function goQuote (s: string): string {
  let out = '"'
  for (const ch of s) out += quoteRune(ch)
  return out + '"'
}

/** Go's %.Nq: the first n runes, quoted. */
function goQuotePrefix (s: string, n: number): string {
  let out = '"'
  let k = 0
  for (const ch of s) {
    if (k++ === n) break
    out += quoteRune(ch)
  }
  return out + '"'
}

function quoteRune (ch: string): string {
  const r = ch.codePointAt(0) ?? 0
  if (r === 0x22 || r === 0x5c) return '\\' + ch
  if (r < 0x80 ? r >= 0x20 && r < 0x7f : isPrint(ch)) return ch
  switch (r) {
    case 0x07: return '\\a'
    case 0x08: return '\\b'
    case 0x0c: return '\\f'
    case 0x0a: return '\\n'
    case 0x0d: return '\\r'
    case 0x09: return '\\t'
    case 0x0b: return '\\v'
  }
  if (r < 0x20 || r === 0x7f) return '\\x' + r.toString(16).padStart(2, '0')
  if (r < 0x10000) return '\\u' + r.toString(16).padStart(4, '0')
  return '\\U' + r.toString(16).padStart(8, '0')
}

function isSpace (c: string | undefined): boolean { return c === ' ' || c === '\t' || c === '\r' || c === '\n' }

/** unicode.IsLetter || unicode.IsDigit || '_'. */
function isAlphaNumeric (c: string | undefined): boolean {
  if (c === undefined) return false
  const code = c.charCodeAt(0)
  if ((code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f) return true
  return code >= 0x80 && /^[\p{L}\p{Nd}]$/u.test(c)
}

/** Go's %#U: `U+0040 '@'`. */
function describeRune (ch: string | undefined): string {
  if (ch === undefined) return 'U+FFFFFFFF'
  const cp = ch.codePointAt(0) ?? 0
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}${isPrint(ch) ? ` '${ch}'` : ''}`
}

function countNewlines (s: string, from: number, to: number): number {
  let n = 0
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === 10) n++
  return n
}

/**
 * The items of `input` up to EOF or the first error. `breakOK`/`continueOK` are always true here:
 * Knative adds no functions, so `break` and `continue` are keywords.
 */
export function lexTemplate (input: string): Item[] {
  return new Lexer(input).run()
}

class Lexer {
  readonly #input: string
  #pos = 0
  #start = 0
  #line = 1
  #startLine = 1
  #parenDepth = 0
  readonly #items: Item[] = []
  #done = false

  constructor (input: string) { this.#input = input }

  run (): Item[] {
    let insideAction = false
    while (!this.#done) {
      if (!insideAction) insideAction = this.#lexText()
      else insideAction = this.#lexInsideAction()
    }
    return this.#items
  }

  /** The code point at `pos` (as a string), or undefined at the end. */
  #runeAt (pos: number): string | undefined {
    if (pos >= this.#input.length) return undefined
    const cp = this.#input.codePointAt(pos) ?? 0
    return String.fromCodePoint(cp)
  }

  #next (): string | undefined {
    const r = this.#runeAt(this.#pos)
    if (r === undefined) return undefined
    this.#pos += r.length
    if (r === '\n') this.#line++
    return r
  }

  #backup (r: string | undefined): void {
    if (r === undefined) return
    this.#pos -= r.length
    if (r === '\n') this.#line--
  }

  #peek (): string | undefined { return this.#runeAt(this.#pos) }

  #emit (typ: number): void {
    this.#items.push({ typ, pos: this.#start, val: this.#input.slice(this.#start, this.#pos), line: this.#startLine })
    this.#start = this.#pos
    this.#startLine = this.#line
  }

  #ignore (): void {
    this.#line += countNewlines(this.#input, this.#start, this.#pos)
    this.#start = this.#pos
    this.#startLine = this.#line
  }

  #error (message: string): false {
    this.#items.push({ typ: ITEM_ERROR, pos: this.#start, val: message, line: this.#startLine })
    this.#items.push({ typ: ITEM_EOF, pos: 0, val: 'EOF', line: this.#startLine })
    this.#done = true
    return false
  }

  #atRightDelim (): [boolean, boolean] {
    const s = this.#input
    const p = this.#pos
    if (isSpace(s[p]) && s[p + 1] === '-' && s.startsWith('}}', p + 2)) return [true, true]
    if (s.startsWith('}}', p)) return [true, false]
    return [false, false]
  }

  /** lexText, then lexLeftDelim / lexComment; returns true when inside an action. */
  #lexText (): boolean {
    const s = this.#input
    const x = s.indexOf('{{', this.#pos)
    if (x < 0) {
      this.#pos = s.length
      if (this.#pos > this.#start) {
        this.#line += countNewlines(s, this.#start, this.#pos)
        this.#emit(ITEM_TEXT)
      }
      this.#items.push({ typ: ITEM_EOF, pos: this.#pos, val: 'EOF', line: this.#startLine })
      this.#done = true
      return false
    }
    if (x > this.#pos) {
      this.#pos = x
      let trim = 0
      if (s[x + 2] === '-' && isSpace(s[x + 3])) {
        let k = x
        while (k > this.#start && isSpace(s[k - 1])) k--
        trim = x - k
      }
      this.#pos -= trim
      this.#line += countNewlines(s, this.#start, this.#pos)
      const item: Item = { typ: ITEM_TEXT, pos: this.#start, val: s.slice(this.#start, this.#pos), line: this.#startLine }
      this.#start = this.#pos
      this.#startLine = this.#line
      this.#pos += trim
      this.#ignore()
      if (item.val.length > 0) this.#items.push(item)
    }
    // lexLeftDelim
    this.#pos += 2
    const trimSpace = s[this.#pos] === '-' && isSpace(s[this.#pos + 1])
    const afterMarker = trimSpace ? 2 : 0
    if (s.startsWith('/*', this.#pos + afterMarker)) {
      this.#pos += afterMarker
      this.#ignore()
      return this.#lexComment()
    }
    this.#emit(ITEM_LEFT_DELIM)
    this.#pos += afterMarker
    this.#ignore()
    this.#parenDepth = 0
    return true
  }

  #lexComment (): boolean {
    const s = this.#input
    this.#pos += 2
    const x = s.indexOf('*/', this.#pos)
    if (x < 0) return this.#error('unclosed comment')
    this.#pos = x + 2
    const [delim, trimSpace] = this.#atRightDelim()
    if (!delim) return this.#error('comment ends before closing delimiter')
    this.#line += countNewlines(s, this.#start, this.#pos)
    this.#start = this.#pos
    this.#startLine = this.#line
    if (trimSpace) this.#pos += 2
    this.#pos += 2
    if (trimSpace) while (isSpace(s[this.#pos])) this.#pos++
    this.#ignore()
    return false
  }

  #lexRightDelim (): boolean {
    const [, trimSpace] = this.#atRightDelim()
    if (trimSpace) {
      this.#pos += 2
      this.#ignore()
    }
    this.#pos += 2
    this.#emit(ITEM_RIGHT_DELIM)
    if (trimSpace) {
      while (isSpace(this.#input[this.#pos])) this.#pos++
      this.#ignore()
    }
    return false
  }

  /** One item inside an action; returns whether still inside. */
  #lexInsideAction (): boolean {
    const [delim] = this.#atRightDelim()
    if (delim) {
      if (this.#parenDepth === 0) return this.#lexRightDelim()
      return this.#error('unclosed left paren')
    }
    const r = this.#next()
    if (r === undefined) return this.#error('unclosed action')
    if (isSpace(r)) {
      this.#backup(r)
      return this.#lexSpace()
    }
    switch (r) {
      case '=': this.#emit(ITEM_ASSIGN); return true
      case ':':
        if (this.#next() !== '=') return this.#error('expected :=')
        this.#emit(ITEM_DECLARE)
        return true
      case '|': this.#emit(ITEM_PIPE); return true
      case '"': return this.#lexQuote()
      case '`': return this.#lexRawQuote()
      case '$': return this.#lexVariable()
      case '\'': return this.#lexChar()
      case '(': this.#parenDepth++; this.#emit(ITEM_LEFT_PAREN); return true
      case ')':
        this.#parenDepth--
        if (this.#parenDepth < 0) return this.#error('unexpected right paren')
        this.#emit(ITEM_RIGHT_PAREN)
        return true
    }
    if (r === '.') {
      const c = this.#input[this.#pos]
      if (c === undefined || c < '0' || c > '9') return this.#lexFieldOrVariable(ITEM_FIELD)
    }
    if (r === '.' || r === '+' || r === '-' || (r >= '0' && r <= '9')) {
      this.#backup(r)
      return this.#lexNumber()
    }
    if (isAlphaNumeric(r)) {
      this.#backup(r)
      return this.#lexIdentifier()
    }
    const code = r.codePointAt(0) ?? 0
    if (code <= 0x7f && code >= 0x20 && code < 0x7f) { this.#emit(ITEM_CHAR); return true }
    return this.#error(`unrecognized character in action: ${describeRune(r)}`)
  }

  #lexSpace (): boolean {
    let n = 0
    while (isSpace(this.#peek())) { this.#next(); n++ }
    const s = this.#input
    const p = this.#pos - 1
    if (isSpace(s[p]) && s[p + 1] === '-' && s.startsWith('}}', p + 2)) {
      this.#backup(s[p])
      if (n === 1) return this.#lexRightDelim()
    }
    this.#emit(ITEM_SPACE)
    return true
  }

  #lexIdentifier (): boolean {
    for (;;) {
      const r = this.#next()
      if (isAlphaNumeric(r)) continue
      this.#backup(r)
      const word = this.#input.slice(this.#start, this.#pos)
      if (!this.#atTerminator()) return this.#error(`bad character ${describeRune(r)}`)
      const kw = KEYWORDS.get(word)
      if (kw !== undefined && kw > ITEM_KEYWORD) this.#emit(kw)
      else if (word[0] === '.') this.#emit(ITEM_FIELD)
      else if (word === 'true' || word === 'false') this.#emit(ITEM_BOOL)
      else this.#emit(ITEM_IDENTIFIER)
      return true
    }
  }

  #lexVariable (): boolean {
    if (this.#atTerminator()) { this.#emit(ITEM_VARIABLE); return true }
    return this.#lexFieldOrVariable(ITEM_VARIABLE)
  }

  #lexFieldOrVariable (typ: number): boolean {
    if (this.#atTerminator()) {
      this.#emit(typ === ITEM_VARIABLE ? ITEM_VARIABLE : ITEM_DOT)
      return true
    }
    let r: string | undefined
    for (;;) {
      r = this.#next()
      if (!isAlphaNumeric(r)) { this.#backup(r); break }
    }
    if (!this.#atTerminator()) return this.#error(`bad character ${describeRune(r)}`)
    this.#emit(typ)
    return true
  }

  #atTerminator (): boolean {
    const r = this.#peek()
    if (r === undefined || isSpace(r)) return true
    switch (r) {
      case '.': case ',': case '|': case ':': case ')': case '(': return true
    }
    return this.#input.startsWith('}}', this.#pos)
  }

  #lexChar (): boolean {
    for (;;) {
      let r = this.#next()
      if (r === '\\') {
        r = this.#next()
        if (r !== undefined && r !== '\n') continue
        return this.#error('unterminated character constant')
      }
      if (r === undefined || r === '\n') return this.#error('unterminated character constant')
      if (r === '\'') break
    }
    this.#emit(ITEM_CHAR_CONSTANT)
    return true
  }

  #lexNumber (): boolean {
    if (!this.#scanNumber()) return this.#error(`bad number syntax: ${goQuote(this.#input.slice(this.#start, this.#pos))}`)
    const sign = this.#peek()
    if (sign === '+' || sign === '-') {
      if (!this.#scanNumber() || this.#input[this.#pos - 1] !== 'i') return this.#error(`bad number syntax: ${goQuote(this.#input.slice(this.#start, this.#pos))}`)
      this.#emit(ITEM_COMPLEX)
      return true
    }
    this.#emit(ITEM_NUMBER)
    return true
  }

  #accept (valid: string): boolean {
    const r = this.#next()
    if (r !== undefined && valid.includes(r)) return true
    this.#backup(r)
    return false
  }

  #acceptRun (valid: string): void {
    while (this.#accept(valid)) { /* absorb */ }
  }

  #scanNumber (): boolean {
    this.#accept('+-')
    let digits = '0123456789_'
    if (this.#accept('0')) {
      if (this.#accept('xX')) digits = '0123456789abcdefABCDEF_'
      else if (this.#accept('oO')) digits = '01234567_'
      else if (this.#accept('bB')) digits = '01_'
    }
    this.#acceptRun(digits)
    if (this.#accept('.')) this.#acceptRun(digits)
    if (digits.length === 11 && this.#accept('eE')) {
      this.#accept('+-')
      this.#acceptRun('0123456789_')
    }
    if (digits.length === 23 && this.#accept('pP')) {
      this.#accept('+-')
      this.#acceptRun('0123456789_')
    }
    this.#accept('i')
    if (isAlphaNumeric(this.#peek())) {
      this.#next()
      return false
    }
    return true
  }

  #lexQuote (): boolean {
    for (;;) {
      let r = this.#next()
      if (r === '\\') {
        r = this.#next()
        if (r !== undefined && r !== '\n') continue
        return this.#error('unterminated quoted string')
      }
      if (r === undefined || r === '\n') return this.#error('unterminated quoted string')
      if (r === '"') break
    }
    this.#emit(ITEM_STRING)
    return true
  }

  #lexRawQuote (): boolean {
    for (;;) {
      const r = this.#next()
      if (r === undefined) return this.#error('unterminated raw quoted string')
      if (r === '`') break
    }
    this.#emit(ITEM_RAW_STRING)
    return true
  }
}
