import { formatTemplateValue, isPrint, sprint, sprintf, sprintln, sprintTemplateArgs } from './go-fmt.ts'
import { queryEscape } from './go-url.ts'
import { GoExecError, GoStringMap, goTypeName, isStringSlice, NO_ARGS, NO_VALUE, type GoValue } from './go-value.ts'

// A subset of Go's text/template (text/template/parse lex.go + parse.go, exec.go, funcs.go) for
// the request-log templates Knative operators write (config-observability
// `logging.request-log-template`). Compiled once, at start, into a list of text pieces and
// closures; rendering a request walks that list, with no parsing or regular expressions.
//
// Supported as Go does it: text; actions `{{ }}` with `{{- ` / ` -}}` trimming; `{{/* comments */}}`;
// fields and chains (`.Request.Method`, `.Request.Header.Get "X"`, `(index .A 0).B`, `$.X`);
// pipelines (`X | js`); parenthesized pipelines; string, raw string, char, number, bool and nil
// literals (Go's number syntax: `0x1F`, `1_000`, `1e3`); the builtin functions and, html, index,
// js, len, not, or, print, printf, println, slice, urlquery, eq, ne, lt, le, gt, ge (`call` parses
// and fails when run, as there are no function values here).
// Refused at compile time with a clear message: control actions (if, else, range, with, define,
// template, block, break, continue), variable declarations and complex numbers.
//
// A template Go's parser rejects fails compileGoTemplate with Go's message (GoTemplateError);
// anything Go reports while executing (a missing field, a wrong argument) makes render throw
// GoExecError, which Knative's request log turns into its fallback line.

/** A template Go's parser would reject, or one using what this subset refuses. */
export class GoTemplateError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'GoTemplateError'
  }
}


/** A compiled template. */
export interface GoTemplate {
  /** The text for `data`; throws GoExecError where Go's Execute returns an error. */
  render (data: GoValue): string
}

/** The name Knative gives the template (`template.New("requestLog")`), used in messages. */
const TEMPLATE_NAME = 'requestLog'

export function compileGoTemplate (source: string): GoTemplate {
  const items = lex(source)
  const parts = new Parser(source, items).parseTemplate()
  return new CompiledTemplate(parts)
}

type Ev = (dot: GoValue, root: GoValue) => GoValue

class CompiledTemplate implements GoTemplate {
  readonly #parts: ReadonlyArray<string | Ev>

  constructor (parts: ReadonlyArray<string | Ev>) { this.#parts = parts }

  render (data: GoValue): string {
    const parts = this.#parts
    let out = ''
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]
      if (typeof p === 'string') out += p
      else if (p !== undefined) out += formatTemplateValue(p(data, data))
    }
    return out
  }
}

// --- lexer (lex.go) ----------------------------------------------------------------------------

const T_TEXT = 0
const T_LEFT = 1
const T_RIGHT = 2
const T_SPACE = 3
const T_PIPE = 4
const T_LPAREN = 5
const T_RPAREN = 6
const T_FIELD = 7
const T_IDENT = 8
const T_DOT = 9
const T_VAR = 10
const T_STRING = 11
const T_RAW = 12
const T_CHAR_CONST = 13
const T_NUMBER = 14
const T_BOOL = 15
const T_NIL = 16
const T_KEYWORD = 17
const T_CHAR = 18
const T_DECLARE = 19
const T_ASSIGN = 20
const T_COMPLEX = 21
const T_EOF = 22

interface Item { readonly t: number; readonly val: string; readonly pos: number }

const KEYWORDS = new Set(['block', 'break', 'continue', 'define', 'else', 'end', 'if', 'range', 'template', 'with'])

function isDigit (c: string | undefined): boolean { return c !== undefined && c >= '0' && c <= '9' }

function isSpace (c: string | undefined): boolean { return c === ' ' || c === '\t' || c === '\r' || c === '\n' }

function isAlphaNumeric (c: string | undefined): boolean {
  if (c === undefined) return false
  const code = c.charCodeAt(0)
  if ((code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f) return true
  return code >= 0x80 && /[\p{L}\p{Nd}]/u.test(c)
}

function lexError (source: string, pos: number, message: string): GoTemplateError {
  return new GoTemplateError(`template: ${TEMPLATE_NAME}:${lineAt(source, pos)}: ${message}`)
}

function lineAt (source: string, pos: number): number {
  let line = 1
  for (let i = 0; i < pos && i < source.length; i++) if (source[i] === '\n') line++
  return line
}

/** `-` then a space: `{{- `. */
function hasLeftTrim (s: string, at: number): boolean { return s[at] === '-' && isSpace(s[at + 1]) }
/** A space then `-`: ` -}}`. */
function hasRightTrim (s: string, at: number): boolean { return isSpace(s[at]) && s[at + 1] === '-' }

/** At `}}` or ` -}}`: [isDelim, trims]. */
function atRightDelim (s: string, at: number): [boolean, boolean] {
  if (hasRightTrim(s, at) && s.startsWith('}}', at + 2)) return [true, true]
  if (s.startsWith('}}', at)) return [true, false]
  return [false, false]
}

function skipSpaces (s: string, at: number): number {
  while (isSpace(s[at])) at++
  return at
}

function lex (s: string): Item[] {
  const items: Item[] = []
  let pos = 0
  while (pos < s.length) {
    const x = s.indexOf('{{', pos)
    if (x < 0) { items.push({ t: T_TEXT, val: s.slice(pos), pos }); pos = s.length; break }
    let text = s.slice(pos, x)
    const leftTrim = hasLeftTrim(s, x + 2)
    if (leftTrim) {
      let n = text.length
      while (n > 0 && isSpace(text[n - 1])) n--
      text = text.slice(0, n)
    }
    if (text !== '') items.push({ t: T_TEXT, val: text, pos })
    let p = x + 2 + (leftTrim ? 2 : 0)
    if (s.startsWith('/*', p)) {
      const end = s.indexOf('*/', p + 2)
      if (end < 0) throw lexError(s, x, 'unclosed comment')
      p = end + 2
      const [isDelim, trim] = atRightDelim(s, p)
      if (!isDelim) throw lexError(s, x, 'comment ends before closing delimiter')
      p += (trim ? 2 : 0) + 2
      pos = trim ? skipSpaces(s, p) : p
      continue
    }
    items.push({ t: T_LEFT, val: '{{', pos: x })
    pos = lexAction(s, x, p, items)
  }
  items.push({ t: T_EOF, val: '', pos: s.length })
  return items
}

/** Lexes the action opened at `open` from `p` (after `{{`); returns the position after `}}` (and its trimming). */
function lexAction (s: string, open: number, p: number, items: Item[]): number {
  let depth = 0
  for (;;) {
    const [isDelim, trim] = atRightDelim(s, p)
    if (isDelim) {
      if (depth > 0) throw lexError(s, p, 'unclosed left paren')
      p += (trim ? 2 : 0) + 2
      items.push({ t: T_RIGHT, val: '}}', pos: p - 2 })
      return trim ? skipSpaces(s, p) : p
    }
    if (p >= s.length) throw lexError(s, open, 'unclosed action')
    const start = p
    const c = s[p]
    if (isSpace(c)) {
      let n = 0
      while (isSpace(s[p])) { p++; n++ }
      // ` -}}`: the last space belongs to the trim marker.
      if (hasRightTrim(s, p - 1) && s.startsWith('}}', p + 1)) {
        p--
        if (n === 1) continue
      }
      items.push({ t: T_SPACE, val: s.slice(start, p), pos: start })
      continue
    }
    p++
    switch (c) {
      case ':':
        if (s[p] !== '=') throw lexError(s, start, 'expected :=')
        p++
        items.push({ t: T_DECLARE, val: ':=', pos: start })
        continue
      case '=': items.push({ t: T_ASSIGN, val: '=', pos: start }); continue
      case '|': items.push({ t: T_PIPE, val: '|', pos: start }); continue
      case '(': depth++; items.push({ t: T_LPAREN, val: '(', pos: start }); continue
      case ')':
        depth--
        if (depth < 0) throw lexError(s, start, 'unexpected right paren')
        items.push({ t: T_RPAREN, val: ')', pos: start })
        continue
      case '"': case '\'': {
        const isChar = c === '\''
        for (;;) {
          const d = s[p]
          if (d === undefined || d === '\n') throw lexError(s, start, isChar ? 'unterminated character constant' : 'unterminated quoted string')
          p++
          if (d === '\\') {
            const e = s[p]
            if (e === undefined || e === '\n') throw lexError(s, start, isChar ? 'unterminated character constant' : 'unterminated quoted string')
            p++
            continue
          }
          if (d === c) break
        }
        items.push({ t: isChar ? T_CHAR_CONST : T_STRING, val: s.slice(start, p), pos: start })
        continue
      }
      case '`': {
        const end = s.indexOf('`', p)
        if (end < 0) throw lexError(s, start, 'unterminated raw quoted string')
        p = end + 1
        items.push({ t: T_RAW, val: s.slice(start, p), pos: start })
        continue
      }
      case '$': case '.': {
        if (c === '.' && isDigit(s[p])) {
          p = lexNumber(s, start, items)
          continue
        }
        if (atTerminator(s, p)) {
          items.push({ t: c === '$' ? T_VAR : T_DOT, val: c, pos: start })
          continue
        }
        while (isAlphaNumeric(s[p])) p++
        if (!atTerminator(s, p)) throw lexError(s, start, `bad character ${describeRune(s, p)}`)
        items.push({ t: c === '$' ? T_VAR : T_FIELD, val: s.slice(start, p), pos: start })
        continue
      }
    }
    if (c === '+' || c === '-' || isDigit(c)) {
      p = lexNumber(s, start, items)
      continue
    }
    if (isAlphaNumeric(c)) {
      while (isAlphaNumeric(s[p])) p++
      if (!atTerminator(s, p)) throw lexError(s, start, `bad character ${describeRune(s, p)}`)
      const word = s.slice(start, p)
      let t = T_IDENT
      if (KEYWORDS.has(word)) t = T_KEYWORD
      else if (word === 'nil') t = T_NIL
      else if (word === 'true' || word === 'false') t = T_BOOL
      items.push({ t, val: word, pos: start })
      continue
    }
    const code = c === undefined ? 0 : c.charCodeAt(0)
    if (code >= 0x20 && code < 0x7f) { items.push({ t: T_CHAR, val: c ?? '', pos: start }); continue }
    throw lexError(s, start, `unrecognized character in action: ${describeRune(s, start)}`)
  }
}

/** Go's %#U of the rune at `at`: `U+0040 '@'`. */
function describeRune (s: string, at: number): string {
  const cp = s.codePointAt(at)
  if (cp === undefined) return 'U+FFFFFFFF'
  const ch = String.fromCodePoint(cp)
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}${isPrint(ch) ? ` '${ch}'` : ''}`
}

/** A character that may follow an identifier, field or variable. */
function atTerminator (s: string, at: number): boolean {
  const c = s[at]
  if (c === undefined || isSpace(c)) return true
  switch (c) {
    case '.': case ',': case '|': case ':': case ')': case '(': case '}': return true
  }
  return false
}

/** lex.go lexNumber: a number, or Go's complex form `1+2i`. */
function lexNumber (s: string, start: number, items: Item[]): number {
  const p = scanNumber(s, start)
  if (p.bad) throw lexError(s, start, `bad number syntax: ${JSON.stringify(s.slice(start, p.end))}`)
  if (s[p.end] === '+' || s[p.end] === '-') {
    const q = scanNumber(s, p.end)
    if (q.bad || s[q.end - 1] !== 'i') throw lexError(s, start, `bad number syntax: ${JSON.stringify(s.slice(start, q.end))}`)
    items.push({ t: T_COMPLEX, val: s.slice(start, q.end), pos: start })
    return q.end
  }
  items.push({ t: T_NUMBER, val: s.slice(start, p.end), pos: start })
  return p.end
}

/** lex.go scanNumber: loose on purpose; the parser checks the syntax. `bad`: an alphanumeric follows. */
function scanNumber (s: string, from: number): { end: number, bad: boolean } {
  let p = from
  const accept = (valid: string): boolean => {
    const c = s[p]
    if (c !== undefined && valid.includes(c)) { p++; return true }
    return false
  }
  const acceptRun = (valid: string): void => { while (accept(valid)) { /* absorb */ } }
  accept('+-')
  let digits = '0123456789_'
  if (accept('0')) {
    if (accept('xX')) digits = '0123456789abcdefABCDEF_'
    else if (accept('oO')) digits = '01234567_'
    else if (accept('bB')) digits = '01_'
  }
  acceptRun(digits)
  if (accept('.')) acceptRun(digits)
  if (digits.length === 11 && accept('eE')) { accept('+-'); acceptRun('0123456789_') }
  if (digits.length === 23 && accept('pP')) { accept('+-'); acceptRun('0123456789_') }
  accept('i')
  if (isAlphaNumeric(s[p])) return { end: p + 1, bad: true }
  return { end: p, bad: false }
}

// --- parser (parse.go) -------------------------------------------------------------------------

type Node =
  | { readonly k: 'field', readonly path: readonly string[], readonly text: string }
  | { readonly k: 'var', readonly path: readonly string[], readonly text: string }
  | { readonly k: 'chain', readonly node: Node, readonly path: readonly string[], readonly text: string }
  | { readonly k: 'ident', readonly name: string, readonly text: string }
  | { readonly k: 'dot', readonly text: string }
  | { readonly k: 'nil', readonly text: string }
  | { readonly k: 'literal', readonly value: GoValue, readonly text: string }
  | { readonly k: 'pipe', readonly cmds: ReadonlyArray<readonly Node[]>, readonly text: string }

const UNSUPPORTED_HELP = 'request log templates support text, fields, pipelines and functions; not if/range/with/define/template/block or variables'

class Parser {
  readonly #source: string
  readonly #items: readonly Item[]
  #i: number

  constructor (source: string, items: readonly Item[]) {
    this.#source = source
    this.#items = items
    this.#i = 0
  }

  #next (): Item { return this.#items[this.#i++] ?? { t: T_EOF, val: '', pos: this.#source.length } }
  #backup (): void { this.#i-- }
  #peek (): Item { return this.#items[this.#i] ?? { t: T_EOF, val: '', pos: this.#source.length } }
  #nextNonSpace (): Item {
    let item = this.#next()
    while (item.t === T_SPACE) item = this.#next()
    return item
  }

  #peekNonSpace (): Item {
    const item = this.#nextNonSpace()
    this.#backup()
    return item
  }

  #error (item: Item, message: string): GoTemplateError {
    return new GoTemplateError(`template: ${TEMPLATE_NAME}:${lineAt(this.#source, item.pos)}: ${message}`)
  }

  #unexpected (item: Item, context: string): GoTemplateError {
    return this.#error(item, `unexpected ${describeItem(item)} in ${context}`)
  }

  parseTemplate (): Array<string | Ev> {
    const parts: Array<string | Ev> = []
    for (;;) {
      const item = this.#next()
      if (item.t === T_EOF) break
      if (item.t === T_TEXT) {
        const last = parts[parts.length - 1]
        if (typeof last === 'string') parts[parts.length - 1] = last + item.val
        else parts.push(item.val)
        continue
      }
      if (item.t !== T_LEFT) throw this.#unexpected(item, 'input')
      const first = this.#peekNonSpace()
      if (first.t === T_KEYWORD) throw this.#error(first, `"${first.val}" is not supported: ${UNSUPPORTED_HELP}`)
      const pipe = this.#pipeline('command', T_RIGHT)
      parts.push(compilePipe(pipe))
    }
    return parts
  }

  #pipeline (context: string, end: number): Node & { k: 'pipe' } {
    const startItem = this.#peekNonSpace()
    if (startItem.t === T_VAR) {
      const save = this.#i
      this.#nextNonSpace()
      const after = this.#peekNonSpace()
      if (after.t === T_DECLARE || after.t === T_ASSIGN || (after.t === T_CHAR && after.val === ',')) {
        throw this.#error(startItem, `variable declarations are not supported: ${UNSUPPORTED_HELP}`)
      }
      this.#i = save
    }
    const cmds: Node[][] = []
    for (;;) {
      const item = this.#nextNonSpace()
      if (item.t === end) {
        if (cmds.length === 0) throw this.#error(item, `missing value for ${context}`)
        for (let i = 1; i < cmds.length; i++) {
          const head = cmds[i]?.[0]
          if (head !== undefined && (head.k === 'literal' || head.k === 'dot' || head.k === 'nil')) {
            throw this.#error(item, `non executable command in pipeline stage ${i + 1}`)
          }
        }
        return { k: 'pipe', cmds, text: this.#source.slice(startItem.pos, item.pos) }
      }
      switch (item.t) {
        case T_BOOL: case T_CHAR_CONST: case T_COMPLEX: case T_DOT: case T_FIELD: case T_IDENT:
        case T_NUMBER: case T_NIL: case T_RAW: case T_STRING: case T_VAR: case T_LPAREN:
          this.#backup()
          cmds.push(this.#command())
          break
        default:
          throw this.#unexpected(item, context)
      }
    }
  }

  #command (): Node[] {
    const args: Node[] = []
    for (;;) {
      this.#peekNonSpace()
      const operand = this.#operand()
      if (operand !== null) args.push(operand)
      const item = this.#next()
      if (item.t === T_SPACE) continue
      if (item.t === T_RIGHT || item.t === T_RPAREN) this.#backup()
      else if (item.t !== T_PIPE) throw this.#unexpected(item, 'operand')
      break
    }
    if (args.length === 0) throw this.#error(this.#peek(), 'empty command')
    return args
  }

  #operand (): Node | null {
    const node = this.#term()
    if (node === null) return null
    if (this.#peek().t !== T_FIELD) return node
    const path: string[] = []
    let text = node.text
    while (this.#peek().t === T_FIELD) {
      const f = this.#next()
      path.push(intern(f.val.slice(1)))
      text += f.val
    }
    switch (node.k) {
      case 'field': return { k: 'field', path: [...node.path, ...path], text }
      case 'var': return { k: 'var', path: [...node.path, ...path], text }
      case 'literal': case 'nil': case 'dot':
        throw this.#error(this.#peek(), `unexpected . after term ${JSON.stringify(node.text)}`)
      default: return { k: 'chain', node, path, text }
    }
  }

  #term (): Node | null {
    const item = this.#nextNonSpace()
    switch (item.t) {
      case T_IDENT:
        if (!Object.hasOwn(FUNCS, item.val)) throw this.#error(item, `function ${JSON.stringify(item.val)} not defined`)
        return { k: 'ident', name: item.val, text: item.val }
      case T_DOT: return { k: 'dot', text: '.' }
      case T_NIL: return { k: 'nil', text: 'nil' }
      case T_VAR:
        if (item.val !== '$') throw this.#error(item, `undefined variable ${JSON.stringify(item.val)}`)
        return { k: 'var', path: [], text: '$' }
      case T_FIELD: return { k: 'field', path: [intern(item.val.slice(1))], text: item.val }
      case T_BOOL: return { k: 'literal', value: item.val === 'true', text: item.val }
      case T_CHAR_CONST: case T_NUMBER: return { k: 'literal', value: this.#number(item), text: item.val }
      case T_COMPLEX: throw this.#error(item, `complex numbers are not supported: ${UNSUPPORTED_HELP}`)
      case T_LPAREN: return this.#pipeline('parenthesized pipeline', T_RPAREN)
      case T_STRING: case T_RAW: return { k: 'literal', value: this.#unquote(item), text: item.val }
    }
    this.#backup()
    return null
  }

  /** parse.NumberNode + exec.go idealConstant: an int (bigint) or a float64 (number). */
  #number (item: Item): GoValue {
    const text = item.val
    if (item.t === T_CHAR_CONST) {
      const r = unquoteChar(text.slice(1, -1))
      if (r === null) throw this.#error(item, `malformed character constant: ${text}`)
      return BigInt(r)
    }
    if (text.endsWith('i')) throw this.#error(item, `complex numbers are not supported: ${UNSUPPORTED_HELP}`)
    const isHexInt = /^[+-]?0[xX]/.test(text) && !/[pP]/.test(text)
    if (isHexInt || !/[.eEpP]/.test(text)) {
      const n = parseGoInt(text)
      if (n !== null && n <= 0x7fffffffffffffffn && n >= -0x8000000000000000n) return n
      if (n !== null || !Number.isNaN(Number(text.replaceAll('_', '')))) throw this.#error(item, `integer overflow: ${JSON.stringify(text)}`)
      throw this.#error(item, `illegal number syntax: ${JSON.stringify(text)}`)
    }
    const f = Number(text.replaceAll('_', ''))
    if (Number.isNaN(f)) throw this.#error(item, `illegal number syntax: ${JSON.stringify(text)}`)
    return f
  }

  /** strconv.Unquote for "..." and `...`. */
  #unquote (item: Item): string {
    const text = item.val
    if (item.t === T_RAW) return text.slice(1, -1).replaceAll('\r', '')
    const bytes: number[] = []
    const body = text.slice(1, -1)
    for (let i = 0; i < body.length; i++) {
      const c = body[i] ?? ''
      if (c !== '\\') {
        const cp = body.codePointAt(i) ?? 0
        for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) bytes.push(b)
        if (cp > 0xffff) i++
        continue
      }
      const e = body[++i] ?? ''
      const simple = SIMPLE_ESCAPES[e]
      if (simple !== undefined) { bytes.push(simple); continue }
      if (e === 'x' || e === 'u' || e === 'U') {
        const n = e === 'x' ? 2 : e === 'u' ? 4 : 8
        const hex = body.slice(i + 1, i + 1 + n)
        if (hex.length !== n || !/^[0-9a-fA-F]+$/.test(hex)) throw this.#error(item, 'invalid syntax')
        const v = Number.parseInt(hex, 16)
        i += n
        if (e === 'x') { bytes.push(v); continue }
        if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) throw this.#error(item, 'invalid syntax')
        for (const b of Buffer.from(String.fromCodePoint(v), 'utf8')) bytes.push(b)
        continue
      }
      if (e >= '0' && e <= '7') {
        const oct = body.slice(i, i + 3)
        if (!/^[0-7]{3}$/.test(oct)) throw this.#error(item, 'invalid syntax')
        const v = Number.parseInt(oct, 8)
        if (v > 255) throw this.#error(item, 'invalid syntax')
        bytes.push(v)
        i += 2
        continue
      }
      throw this.#error(item, 'invalid syntax')
    }
    return Buffer.from(bytes).toString('utf8')
  }
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 0x5c, '"': 0x22 }

/** strconv.UnquoteChar of a whole char literal body; null when malformed. */
function unquoteChar (body: string): number | null {
  if (body === '') return null
  if (body[0] !== '\\') {
    const cp = body.codePointAt(0) ?? 0
    return String.fromCodePoint(cp).length === body.length && cp !== 0x27 ? cp : null
  }
  const e = body[1] ?? ''
  if (e === '\'') return body.length === 2 ? 0x27 : null
  const simple = SIMPLE_ESCAPES[e]
  if (simple !== undefined) return body.length === 2 && e !== '"' ? simple : null
  if (e === 'x' || e === 'u' || e === 'U') {
    const n = e === 'x' ? 2 : e === 'u' ? 4 : 8
    const hex = body.slice(2)
    if (hex.length !== n || !/^[0-9a-fA-F]+$/.test(hex)) return null
    const v = Number.parseInt(hex, 16)
    if (e !== 'x' && (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))) return null
    return v
  }
  if (/^[0-7]{3}$/.test(body.slice(1))) {
    const v = Number.parseInt(body.slice(1), 8)
    return v <= 255 ? v : null
  }
  return null
}

/** strconv.ParseInt(text, 0, 64) without the range check: sign, 0x/0o/0b/0 prefixes, underscores. */
function parseGoInt (text: string): bigint | null {
  let s = text
  let neg = false
  if (s[0] === '+' || s[0] === '-') { neg = s[0] === '-'; s = s.slice(1) }
  let base = 10
  let prefix = ''
  if (/^0[xX]/.test(s)) { base = 16; prefix = '0x' } else if (/^0[oO]/.test(s)) { base = 8; prefix = '0o' } else if (/^0[bB]/.test(s)) { base = 2; prefix = '0b' } else if (s.length > 1 && s[0] === '0') { base = 8; prefix = '0o' }
  const digits = base === 8 && prefix === '0o' && !/^0[oO]/.test(s) ? s.slice(1) : s.slice(prefix === '' ? 0 : 2)
  // Underscores only between digits (or right after a base prefix).
  if (digits === '' || digits.endsWith('_') || digits.includes('__') || (digits.startsWith('_') && prefix === '')) return null
  const clean = digits.replaceAll('_', '')
  const valid = base === 16 ? /^[0-9a-fA-F]+$/ : base === 8 ? /^[0-7]+$/ : base === 2 ? /^[01]+$/ : /^[0-9]+$/
  if (!valid.test(clean)) return null
  const n = BigInt((prefix === '' ? '' : prefix) + clean)
  return neg ? -n : n
}

/**
 * The internalized copy of a field name: goLookup's `switch (name)` then compares pointers, not
 * characters (a name sliced out of the template source is not internalized by V8).
 */
function intern (name: string): string {
  return Object.keys({ [name]: 0 })[0] ?? name
}

function describeItem (item: Item): string {
  switch (item.t) {
    case T_EOF: return 'EOF'
    case T_KEYWORD: case T_NIL: case T_DOT: return `<${item.val}>`
  }
  return item.val.length > 10 ? `${JSON.stringify(item.val.slice(0, 10))}...` : JSON.stringify(item.val)
}

// --- compile to closures (exec.go) -------------------------------------------------------------

/** "No piped value" (exec.go missingVal): the command is the first of its pipeline. */
const MISSING: unique symbol = Symbol('missing')
type Final = GoValue | typeof MISSING
type Cmd = (dot: GoValue, root: GoValue, final: Final) => GoValue

function compilePipe (pipe: Node & { k: 'pipe' }): Ev {
  const cmds = pipe.cmds.map(compileCommand)
  const first = cmds[0]
  if (first === undefined) throw new GoTemplateError('empty pipeline')
  if (cmds.length === 1) return (dot, root) => first(dot, root, MISSING)
  return (dot, root) => {
    let v = first(dot, root, MISSING)
    for (let i = 1; i < cmds.length; i++) {
      const c = cmds[i]
      if (c !== undefined) v = c(dot, root, v)
    }
    return v
  }
}

function compileCommand (args: readonly Node[]): Cmd {
  const head = args[0]
  if (head === undefined) throw new GoTemplateError('empty command')
  const argEvs = args.slice(1).map(compileArg)
  switch (head.k) {
    case 'field': {
      const path = head.path
      return (dot, root, final) => evalFieldChain(dot, path, callArgs(argEvs, dot, root, final))
    }
    case 'chain': {
      const recv = compileArg(head.node)
      const path = head.path
      return (dot, root, final) => evalFieldChain(recv(dot, root), path, callArgs(argEvs, dot, root, final))
    }
    case 'var': {
      const path = head.path
      if (path.length === 0) return notAFunction(head, argEvs, (_dot, root) => root)
      return (dot, root, final) => evalFieldChain(root, path, callArgs(argEvs, dot, root, final))
    }
    case 'ident': {
      const fn = FUNCS[head.name]
      if (fn === undefined) throw new GoTemplateError(`function ${JSON.stringify(head.name)} not defined`)
      const name = head.name
      return (dot, root, final) => fn(argEvs, dot, root, final, name)
    }
    case 'pipe': return notAFunction(head, argEvs, compilePipe(head))
    case 'nil': return () => { throw new GoExecError('nil is not a command') }
    case 'dot': return notAFunction(head, argEvs, (dot) => dot)
    case 'literal': {
      const v = head.value
      return notAFunction(head, argEvs, () => v)
    }
  }
}

/** A value that cannot be called: arguments, or a piped value, are an execution error. */
function notAFunction (head: Node, argEvs: readonly Ev[], ev: Ev): Cmd {
  if (argEvs.length > 0) return () => { throw new GoExecError(`can't give argument to non-function ${head.text}`) }
  return (dot, root, final) => {
    if (final !== MISSING) throw new GoExecError(`can't give argument to non-function ${head.text}`)
    return ev(dot, root)
  }
}

/** The value of a node used as an argument (exec.go evalArg). */
function compileArg (node: Node): Ev {
  switch (node.k) {
    case 'field': { const path = node.path; return (dot) => evalFieldChain(dot, path, NO_ARGS) }
    case 'chain': {
      const recv = compileArg(node.node)
      const path = node.path
      return (dot, root) => evalFieldChain(recv(dot, root), path, NO_ARGS)
    }
    case 'var': {
      const path = node.path
      return path.length === 0 ? (_dot, root) => root : (_dot, root) => evalFieldChain(root, path, NO_ARGS)
    }
    case 'ident': {
      const fn = FUNCS[node.name]
      if (fn === undefined) throw new GoTemplateError(`function ${JSON.stringify(node.name)} not defined`)
      const name = node.name
      return (dot, root) => fn(NO_EVS, dot, root, MISSING, name)
    }
    case 'pipe': return compilePipe(node)
    case 'nil': return () => NO_VALUE // an untyped nil argument
    case 'dot': return (dot) => dot
    case 'literal': { const v = node.value; return () => v }
  }
}

const NO_EVS: readonly Ev[] = Object.freeze([])

/** The method arguments of a command: its operands, then the piped value. */
function callArgs (argEvs: readonly Ev[], dot: GoValue, root: GoValue, final: Final): readonly GoValue[] {
  if (argEvs.length === 0 && final === MISSING) return NO_ARGS
  const out: GoValue[] = []
  for (let i = 0; i < argEvs.length; i++) {
    const ev = argEvs[i]
    if (ev !== undefined) out.push(ev(dot, root))
  }
  if (final !== MISSING) out.push(final)
  return out
}

/** exec.go evalFieldChain + evalField: only the last name gets the arguments. */
function evalFieldChain (receiver: GoValue, path: readonly string[], args: readonly GoValue[]): GoValue {
  let cur = receiver
  const last = path.length - 1
  for (let i = 0; i <= last; i++) {
    const name = path[i] ?? ''
    const a = i === last ? args : NO_ARGS
    // A missing map entry reached mid-chain stays "no value" (text/template's missingkey=default).
    if (cur === NO_VALUE) return NO_VALUE
    if (cur === null) throw new GoExecError(`nil pointer evaluating ${name}`)
    if (typeof cur !== 'object' || isStringSlice(cur)) throw new GoExecError(`can't evaluate field ${name} in type ${goTypeName(cur)}`)
    cur = cur.goLookup(name, a)
  }
  return cur
}

// --- functions (funcs.go) ----------------------------------------------------------------------

type Fn = (argEvs: readonly Ev[], dot: GoValue, root: GoValue, final: Final, name: string) => GoValue

/** A function taking evaluated arguments, with Go's arity check. max -1 = variadic. */
function fn (min: number, max: number, impl: (args: readonly GoValue[]) => GoValue): Fn {
  return (argEvs, dot, root, final, name) => {
    const args = callArgs(argEvs, dot, root, final)
    if (args.length < min || (max >= 0 && args.length > max)) {
      const want = max < 0 ? `at least ${min}` : String(min)
      throw new GoExecError(`wrong number of args for ${name}: want ${want} got ${args.length}`)
    }
    return impl(args)
  }
}

/** and / or: Go 1.18+ evaluates arguments only until the result is known. */
function andOr (isOr: boolean): Fn {
  return (argEvs, dot, root, final, name) => {
    if (argEvs.length === 0 && final === MISSING) throw new GoExecError(`wrong number of args for ${name}: want at least 1 got 0`)
    let v: GoValue = NO_VALUE
    for (let i = 0; i < argEvs.length; i++) {
      const ev = argEvs[i]
      if (ev === undefined) continue
      v = ev(dot, root)
      if (truth(v) === isOr) return v
    }
    return final === MISSING ? v : final
  }
}

/** exec.go isTrue. */
function truth (v: GoValue): boolean {
  if (v === null || v === NO_VALUE) return false
  switch (typeof v) {
    case 'string': return v !== ''
    case 'bigint': return v !== 0n
    case 'number': return v !== 0
    case 'boolean': return v
  }
  if (isStringSlice(v)) return v.length > 0
  if (v instanceof GoStringMap) return v.entries.size > 0
  return true
}

/** funcs.go basicKind: the comparable scalar kind of a value, or null. */
function basicKind (v: GoValue): 'bool' | 'int' | 'float' | 'string' | null {
  switch (typeof v) {
    case 'boolean': return 'bool'
    case 'bigint': return 'int'
    case 'number': return 'float'
    case 'string': return 'string'
  }
  return null
}

function eq (args: readonly GoValue[]): GoValue {
  const a = args[0] ?? NO_VALUE
  if (args.length < 2) throw new GoExecError('missing argument for comparison')
  const ka = basicKind(a)
  for (let i = 1; i < args.length; i++) {
    const b = args[i] ?? NO_VALUE
    const kb = basicKind(b)
    if (ka !== null && kb !== null) {
      if (ka !== kb) throw new GoExecError(`incompatible types for comparison: ${goTypeName(a)} and ${goTypeName(b)}`)
      if (a === b) return true
      continue
    }
    const aNil = a === null || a === NO_VALUE
    const bNil = b === null || b === NO_VALUE
    if (aNil || bNil) { if (aNil === bNil) return true; continue }
    if (isStringSlice(a) || isStringSlice(b) || a instanceof GoStringMap || b instanceof GoStringMap) {
      throw new GoExecError('non-comparable types for comparison')
    }
    if (ka !== kb) throw new GoExecError(`incompatible types for comparison: ${goTypeName(a)} and ${goTypeName(b)}`)
    if (a === b) return true
  }
  return false
}

function lt (a: GoValue, b: GoValue): boolean {
  const ka = basicKind(a)
  const kb = basicKind(b)
  if (ka === null || kb === null || ka === 'bool' || kb === 'bool') throw new GoExecError('invalid type for comparison')
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b
  if (typeof a === 'number' && typeof b === 'number') return a < b
  if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')) < 0
  throw new GoExecError(`incompatible types for comparison: ${goTypeName(a)} and ${goTypeName(b)}`)
}

function toIndex (v: GoValue, what: string): number {
  if (typeof v !== 'bigint') throw new GoExecError(`cannot index ${what} with type ${goTypeName(v)}`)
  return Number(v)
}

function index (args: readonly GoValue[]): GoValue {
  let item = args[0] ?? NO_VALUE
  if (item === NO_VALUE) throw new GoExecError('index of untyped nil')
  for (let i = 1; i < args.length; i++) {
    const key = args[i] ?? NO_VALUE
    if (item === null) throw new GoExecError('index of nil pointer')
    if (item instanceof GoStringMap) {
      if (typeof key !== 'string') throw new GoExecError(`value has type ${goTypeName(key)}; should be string`)
      // A missing key yields the element type's zero value: a nil []string, printed `[]`.
      item = item.get(key) ?? []
    } else if (isStringSlice(item)) {
      const x = toIndex(key, 'slice/array')
      if (x < 0 || x >= item.length) throw new GoExecError(`index out of range: ${x}`)
      item = item[x] ?? ''
    } else if (typeof item === 'string') {
      const bytes = Buffer.from(item, 'utf8')
      const x = toIndex(key, 'slice/array')
      if (x < 0 || x >= bytes.length) throw new GoExecError(`index out of range: ${x}`)
      item = BigInt(bytes[x] ?? 0)
    } else {
      throw new GoExecError(`can't index item of type ${goTypeName(item)}`)
    }
  }
  return item
}

function slice (args: readonly GoValue[]): GoValue {
  const item = args[0] ?? NO_VALUE
  if (item === NO_VALUE) throw new GoExecError('slice of untyped nil')
  if (args.length > 4) throw new GoExecError(`too many slice indexes: ${args.length - 1}`)
  let len: number
  if (typeof item === 'string') {
    if (args.length === 4) throw new GoExecError('cannot 3-index slice a string')
    len = Buffer.byteLength(item, 'utf8')
  } else if (isStringSlice(item)) {
    len = item.length
  } else {
    throw new GoExecError(`can't slice item of type ${goTypeName(item)}`)
  }
  const idx = [0, len, len]
  for (let i = 1; i < args.length; i++) {
    const x = toIndex(args[i] ?? NO_VALUE, 'slice/array')
    if (x < 0 || x > len) throw new GoExecError(`index out of range: ${x}`)
    idx[i - 1] = x
  }
  const lo = idx[0] ?? 0
  const hi = args.length >= 3 ? idx[1] ?? len : len
  if (lo > hi) throw new GoExecError(`invalid slice index: ${lo} > ${hi}`)
  if (typeof item === 'string') return Buffer.from(item, 'utf8').subarray(lo, hi).toString('utf8')
  return item.slice(lo, hi)
}

function len (args: readonly GoValue[]): GoValue {
  const a = args[0] ?? NO_VALUE
  if (a === null) throw new GoExecError('len of nil pointer')
  if (typeof a === 'string') return BigInt(Buffer.byteLength(a, 'utf8'))
  if (a !== NO_VALUE && isStringSlice(a)) return BigInt(a.length)
  if (a instanceof GoStringMap) return BigInt(a.entries.size)
  throw new GoExecError(`len of type ${goTypeName(a)}`)
}

/** template.HTMLEscapeString. */
export function htmlEscape (s: string): string {
  let out = ''
  let last = 0
  for (let i = 0; i < s.length; i++) {
    let rep: string
    switch (s.charCodeAt(i)) {
      case 0: rep = '\uFFFD'; break
      case 0x22: rep = '&#34;'; break
      case 0x27: rep = '&#39;'; break
      case 0x26: rep = '&amp;'; break
      case 0x3c: rep = '&lt;'; break
      case 0x3e: rep = '&gt;'; break
      default: continue
    }
    out += s.slice(last, i) + rep
    last = i + 1
  }
  return last === 0 ? s : out + s.slice(last)
}

const JS_HEX = '0123456789ABCDEF'

/** ASCII replacements of template.JSEscapeString ('' = kept as is): quotes, <>&=, backslash, controls. */
const JS_ASCII: readonly string[] = (() => {
  const table: string[] = []
  for (let c = 0; c < 0x80; c++) table.push(c < 0x20 ? '\\u00' + (JS_HEX[c >> 4] ?? '') + (JS_HEX[c & 15] ?? '') : '')
  table[0x5c] = '\\\\'
  table[0x27] = "\\'"
  table[0x22] = '\\"'
  table[0x3c] = '\\u003C'
  table[0x3e] = '\\u003E'
  table[0x26] = '\\u0026'
  table[0x3d] = '\\u003D'
  return table
})()

/** template.JSEscapeString. */
export function jsEscape (s: string): string {
  let out = ''
  let last = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    let rep: string
    if (c < 0x80) {
      rep = JS_ASCII[c] ?? ''
      if (rep === '') continue
    } else {
      // Non-ASCII: printable runes stay, others become \uXXXX (Go's %04X of the rune).
      const cp = s.codePointAt(i) ?? c
      const width = cp > 0xffff ? 2 : 1
      if (isPrint(String.fromCodePoint(cp))) { i += width - 1; continue }
      rep = '\\u' + cp.toString(16).toUpperCase().padStart(4, '0')
      out += s.slice(last, i) + rep
      i += width - 1
      last = i + 1
      continue
    }
    out += s.slice(last, i) + rep
    last = i + 1
  }
  return last === 0 ? s : out + s.slice(last)
}

const FUNCS: Readonly<Record<string, Fn>> = {
  and: andOr(false),
  or: andOr(true),
  not: fn(1, 1, (a) => !truth(a[0] ?? NO_VALUE)),
  call: fn(1, -1, (a) => { throw new GoExecError(`non-function of type ${goTypeName(a[0] ?? NO_VALUE)}`) }),
  html: fn(0, -1, (a) => htmlEscape(sprintTemplateArgs(a))),
  js: fn(0, -1, (a) => jsEscape(sprintTemplateArgs(a))),
  urlquery: fn(0, -1, (a) => queryEscape(sprintTemplateArgs(a))),
  print: fn(0, -1, sprint),
  println: fn(0, -1, sprintln),
  printf: fn(1, -1, (a) => {
    const format = a[0]
    if (typeof format !== 'string') throw new GoExecError(`wrong type for value; expected string; got ${goTypeName(format ?? NO_VALUE)}`)
    return sprintf(format, a.slice(1))
  }),
  index: fn(1, -1, index),
  slice: fn(1, -1, slice),
  len: fn(1, 1, len),
  eq: fn(1, -1, eq),
  ne: fn(2, 2, (a) => !eq(a)),
  lt: fn(2, 2, (a) => lt(a[0] ?? NO_VALUE, a[1] ?? NO_VALUE)),
  le: fn(2, 2, (a) => lt(a[0] ?? NO_VALUE, a[1] ?? NO_VALUE) || eq(a) === true),
  gt: fn(2, 2, (a) => !(lt(a[0] ?? NO_VALUE, a[1] ?? NO_VALUE) || eq(a) === true)),
  ge: fn(2, 2, (a) => !lt(a[0] ?? NO_VALUE, a[1] ?? NO_VALUE)),
}
