import { GoNil, GoStringer, GoStringMap, goTypeName, isStringSlice, NO_ARGS, NO_VALUE, type GoObject, type GoValue } from './go-value.ts'

// Go's fmt printing rules (fmt/print.go, fmt/format.go, strconv/ftoa.go, strconv/quote.go) for the
// values in go-value.ts: what Sprint, Sprintln and Sprintf write, byte for byte. Covered: flags
// `+ - # space 0`, width and precision (also `*`), the verbs v s q d t f F e E g G x X o O b c U
// T and `%%`, bad verbs (`%!d(string=a)`), missing and extra operands. Floats are printed from their
// exact decimal value with round-half-even, as strconv does (JS toFixed rounds ties up).
// %+v names struct fields, %#v prints Go syntax, `%[n]` picks an operand. Not covered: %p.

/** Where a value sits: fmt prints a pointer to a struct as `&{...}` only at depth 0. */
const TOP = 0

class FmtState {
  plus = false
  /** %+v: struct fields printed with their names. */
  plusV = false
  /** %#v: Go syntax (`&http.RequestLogResponse{Code:201, ...}`, quoted strings). */
  sharpV = false
  minus = false
  sharp = false
  space = false
  zero = false
  /** -1 = none */
  width = -1
  /** -1 = none */
  prec = -1

  clear (): void {
    this.plus = false; this.plusV = false; this.sharpV = false; this.minus = false; this.sharp = false; this.space = false; this.zero = false
    this.width = -1; this.prec = -1
  }
}

// One shared state: printing is synchronous and never re-entered while a call is formatting.
const state = new FmtState()

/** fmt.Sprint: operands as %v, a space between two operands when neither is a string. */
export function sprint (args: readonly GoValue[]): string {
  state.clear()
  let out = ''
  let prevString = false
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? null
    const isString = typeof a === 'string'
    if (i > 0 && !isString && !prevString) out += ' '
    out += printArg(a, 'v', TOP)
    prevString = isString
  }
  return out
}

/** fmt.Sprintln: operands as %v, always space-separated, then a newline. */
export function sprintln (args: readonly GoValue[]): string {
  state.clear()
  let out = ''
  for (let i = 0; i < args.length; i++) {
    if (i > 0) out += ' '
    out += printArg(args[i] ?? null, 'v', TOP)
  }
  return out + '\n'
}

/** fmt's %v of one value (a pointer to a struct printed as `&{...}`). */
export function formatValue (v: GoValue): string {
  state.clear()
  return printArg(v, 'v', TOP)
}

/**
 * What text/template writes for an action's value (exec.go printValue): a pointer is dereferenced
 * first (`{{.Revision}}` prints `{rev ns ...}`, no `&`), an invalid value prints `<no value>`.
 */
export function formatTemplateValue (v: GoValue): string {
  switch (typeof v) {
    case 'string': return v
    case 'bigint': return v.toString()
    case 'number': return formatFloat(v)
    case 'boolean': return v ? 'true' : 'false'
  }
  if (v === NO_VALUE) return '<no value>'
  state.clear()
  if (v instanceof GoNil) return fmtNil(v, 'v')
  return typeof v === 'object' && v !== null && !isStringSlice(v) && !(v instanceof GoStringMap) ? fmtObject(v, 'v', TOP, false) : printArg(v, 'v', TOP)
}

/**
 * text/template's evalArgs, the text the js, html and urlquery functions escape: one string as is,
 * else fmt.Sprint of the operands with pointers dereferenced and invalid values as `<no value>`.
 */
export function sprintTemplateArgs (args: readonly GoValue[]): string {
  const first = args[0]
  if (args.length === 1 && typeof first === 'string') return first
  state.clear()
  let out = ''
  let prevString = false
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? null
    const isString = typeof a === 'string' || a === NO_VALUE
    if (i > 0 && !isString && !prevString) out += ' '
    if (a === NO_VALUE) out += '<no value>'
    else if (typeof a === 'object' && a !== null && !isStringSlice(a) && !(a instanceof GoStringMap) && !(a instanceof GoNil)) out += fmtObject(a, 'v', TOP, false)
    else out += printArg(a, 'v', TOP)
    prevString = isString
  }
  return out
}

/** fmt.Sprintf (print.go doPrintf), explicit argument indexes (`%[2]d`, `%[1]*d`) included. */
export function sprintf (format: string, args: readonly GoValue[]): string {
  let out = ''
  let argNum = 0
  let reordered = false
  const end = format.length
  let i = 0
  while (i < end) {
    let goodArgNum = true
    const lit = format.indexOf('%', i)
    if (lit < 0) { out += format.slice(i); break }
    if (lit > i) out += format.slice(i, lit)
    i = lit + 1
    const f = state
    f.clear()
    // Flags.
    for (; i < end; i++) {
      const c = format[i]
      if (c === '#') f.sharp = true
      else if (c === '0') f.zero = true
      else if (c === '+') f.plus = true
      else if (c === '-') f.minus = true
      else if (c === ' ') f.space = true
      else break
    }
    // An explicit argument index?
    let afterIndex = false
    if (format[i] === '[') {
      reordered = true
      const r = parseArgNumber(format, i, args.length)
      i = r.next
      if (r.index >= 0) { argNum = r.index; afterIndex = true } else { goodArgNum = false; afterIndex = r.ok }
    }
    // Width.
    if (format[i] === '*') {
      i++
      const w = intFromArg(args, argNum)
      argNum = w.next
      if (w.ok) {
        f.width = w.num
        if (f.width < 0) { f.minus = true; f.width = -f.width }
      } else {
        out += '%!(BADWIDTH)'
      }
      afterIndex = false
    } else {
      const start = i
      while (i < end && isDigit(format.charCodeAt(i))) i++
      if (i > start) {
        f.width = Number(format.slice(start, i))
        if (afterIndex) goodArgNum = false // "%[3]2d"
      }
    }
    // Precision.
    if (i + 1 < end && format[i] === '.') {
      i++
      if (afterIndex) goodArgNum = false // "%[3].2d"
      afterIndex = false
      if (format[i] === '[') {
        reordered = true
        const r = parseArgNumber(format, i, args.length)
        i = r.next
        if (r.index >= 0) { argNum = r.index; afterIndex = true } else { goodArgNum = false; afterIndex = r.ok }
      }
      if (format[i] === '*') {
        i++
        const p = intFromArg(args, argNum)
        argNum = p.next
        if (p.ok && p.num >= 0) f.prec = p.num
        else { f.prec = -1; if (!p.ok) out += '%!(BADPREC)' }
        afterIndex = false
      } else {
        const start = i
        while (i < end && isDigit(format.charCodeAt(i))) i++
        f.prec = i > start ? Number(format.slice(start, i)) : 0
      }
    }
    if (!afterIndex && format[i] === '[') {
      reordered = true
      const r = parseArgNumber(format, i, args.length)
      i = r.next
      if (r.index >= 0) { argNum = r.index; afterIndex = true } else { goodArgNum = false; afterIndex = r.ok }
    }
    // fmt.go: a minus flag turns zero padding off; zero padding needs a width.
    if (f.minus) f.zero = false
    if (i >= end) { out += '%!(NOVERB)'; break }
    const cp = format.codePointAt(i) ?? 0
    const verb = String.fromCodePoint(cp)
    i += verb.length
    if (verb === '%') { out += '%'; continue }
    if (!goodArgNum) { out += `%!${verb}(BADINDEX)`; continue }
    if (argNum >= args.length) { out += `%!${verb}(MISSING)`; continue }
    if (verb === 'v') {
      // %#v prints Go syntax; %+v names struct fields.
      f.plusV = f.plus
      f.plus = false
      f.sharpV = f.sharp
      f.sharp = false
    }
    const arg = args[argNum++] ?? null
    if (verb === 'T') { out += pad(arg === null || arg === NO_VALUE ? '<nil>' : goTypeName(arg)); continue }
    out += printArg(arg, verb, TOP)
  }
  if (!reordered && argNum < args.length) {
    state.clear()
    out += '%!(EXTRA '
    for (let k = argNum; k < args.length; k++) {
      if (k > argNum) out += ', '
      const a = args[k] ?? null
      out += a === null || a === NO_VALUE ? '<nil>' : `${goTypeName(a)}=${printArg(a, 'v', TOP)}`
    }
    out += ')'
  }
  return out
}

/** print.go argNumber/parseArgNumber at `[`: index -1 when bad; ok: the brackets held a number. */
function parseArgNumber (format: string, at: number, numArgs: number): { index: number, next: number, ok: boolean } {
  for (let j = at + 1; j < format.length; j++) {
    if (format[j] !== ']') continue
    const digits = format.slice(at + 1, j)
    if (j - at < 3 - 1 || !/^[0-9]+$/.test(digits)) return { index: -1, next: j + 1, ok: false }
    const n = Number(digits) - 1
    return n >= 0 && n < numArgs ? { index: n, next: j + 1, ok: true } : { index: -1, next: j + 1, ok: true }
  }
  return { index: -1, next: at + 1, ok: false }
}

/** print.go intFromArg: an int operand for `*`; the argument is used up even when it is no int. */
function intFromArg (args: readonly GoValue[], argNum: number): { num: number, ok: boolean, next: number } {
  if (argNum >= args.length) return { num: 0, ok: false, next: argNum }
  const v = args[argNum]
  if (typeof v !== 'bigint' || v > 1000000n || v < -1000000n) return { num: 0, ok: false, next: argNum + 1 }
  return { num: Number(v), ok: true, next: argNum + 1 }
}

function isDigit (c: number): boolean { return c >= 0x30 && c <= 0x39 }

// --- one operand -----------------------------------------------------------------------------

function printArg (v: GoValue, verb: string, depth: number): string {
  if (v === null || v === NO_VALUE) return verb === 'v' ? pad('<nil>') : `%!${verb}(<nil>)`
  if (verb === 'v' && state.sharpV) return goSyntax(v, depth)
  if (v instanceof GoNil) return fmtNil(v, verb)
  switch (typeof v) {
    case 'boolean': return verb === 't' || verb === 'v' ? pad(v ? 'true' : 'false') : badVerb(v, verb, depth)
    case 'bigint': return fmtInteger(v, verb, depth)
    case 'number': return verb === 'v' && isPlainState() && isPlainDecimal(v) ? String(v) : fmtFloatVerb(v, verb, depth)
    case 'string': return fmtString(v, verb, depth)
  }
  if (isStringSlice(v)) {
    let out = '['
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ' '
      out += fmtString(v[i] ?? '', verb, depth + 1)
    }
    return out + ']'
  }
  if (v instanceof GoStringMap) {
    const keys = [...v.entries.keys()].sort()
    let out = 'map['
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] ?? ''
      if (i > 0) out += ' '
      out += fmtString(k, verb, depth + 1) + ':' + printArg(v.get(k) ?? [], verb, depth + 1)
    }
    return out + ']'
  }
  return fmtObject(v, verb, depth, true)
}

/**
 * %#v (print.go with sharpV): Go syntax. Strings quoted, slices `[]string{"a", "b"}`, maps
 * `http.Header{"A":[]string{"x"}}`, a pointer to a struct `&http.RequestLogResponse{Code:201, ...}`,
 * typed nils `(*tls.ConnectionState)(nil)`. A Stringer's String() is not used. An empty slice or map
 * prints as nil (`[]string(nil)`): the model's empty ones are Go's nil ones. A pointer inside a
 * struct prints as an address in Go, which differs per run; here `(*T)(0xc000000000)`.
 */
function goSyntax (v: GoValue, depth: number): string {
  if (v === null || v === NO_VALUE) return '<nil>'
  if (v instanceof GoNil) return `(${v.goType})(nil)`
  switch (typeof v) {
    case 'string': return pad(quote(v))
    case 'bigint': case 'number': case 'boolean': return printArgPlain(v, depth)
  }
  if (isStringSlice(v)) {
    if (v.length === 0) return '[]string(nil)'
    return `[]string{${v.map((x) => quote(x)).join(', ')}}`
  }
  if (v instanceof GoStringMap) {
    if (v.entries.size === 0) return `${v.goType}(nil)`
    const keys = [...v.entries.keys()].sort()
    return `${v.goType}{${keys.map((k) => `${quote(k)}:${goSyntax(v.get(k) ?? [], depth + 1)}`).join(', ')}}`
  }
  const isPointer = v.goType.startsWith('*')
  if (isPointer && depth > TOP) return `(${v.goType})(0xc000000000)`
  const printed = v.goPrint()
  const names = v.goFieldNames === undefined ? [] : v.goFieldNames()
  // A Stringer's fields are read one by one (%#v does not call String()).
  const fields = printed instanceof GoStringer ? names.map((n) => v.goLookup(n, NO_ARGS)) : printed
  let out = isPointer ? `&${v.goType.slice(1)}{` : `${v.goType}{`
  for (let i = 0; i < fields.length; i++) {
    if (i > 0) out += ', '
    const name = names[i]
    if (name !== undefined) out += name + ':'
    out += goSyntax(fields[i] ?? null, depth + 1)
  }
  return out + '}'
}

/** %v of a bool or number without sharpV (their Go syntax is their %v). */
function printArgPlain (v: boolean | bigint | number, depth: number): string {
  state.sharpV = false
  const out = printArg(v, 'v', depth)
  state.sharpV = true
  return out
}

/** A typed nil (fmt's handleMethods, then fmtPointer): a Stringer's String(), `<nil>`, 0 for the integer verbs. */
function fmtNil (v: GoNil, verb: string): string {
  if (v.nilString !== null && (verb === 'v' || verb === 's' || verb === 'q' || verb === 'x' || verb === 'X')) return fmtString(v.nilString, verb, TOP)
  switch (verb) {
    case 'v': return pad('<nil>')
    case 'b': case 'o': case 'd': return fmtInteger(0n, verb, TOP)
    case 'x': case 'X': return pad(verb === 'x' ? '0x0' : '0X0')
  }
  return `%!${verb}(${v.goType}=<nil>)`
}

/** A struct, a pointer to one (`&{...}` at depth 0 when `amp`), or a Stringer. */
function fmtObject (v: GoObject, verb: string, depth: number, amp: boolean): string {
  const printed = v.goPrint()
  if (printed instanceof GoStringer) {
    // fmt's handleMethods: a Stringer is formatted as its String() for the string verbs.
    if (verb === 'v' || verb === 's' || verb === 'q' || verb === 'x' || verb === 'X') return fmtString(printed.text, verb, depth)
  }
  const fields = printed instanceof GoStringer ? [] : printed
  const names = state.plusV && v.goFieldNames !== undefined ? v.goFieldNames() : null
  let out = amp && depth === TOP && v.goType.startsWith('*') ? '&{' : '{'
  for (let i = 0; i < fields.length; i++) {
    if (i > 0) out += ' '
    if (names !== null) out += (names[i] ?? '') + ':'
    out += printArg(fields[i] ?? null, verb, depth + 1)
  }
  return out + '}'
}

/** `%!verb(type=value)`, the value printed with %v (and the same flags, as fmt does). */
function badVerb (v: GoValue, verb: string, depth: number): string {
  return `%!${verb}(${goTypeName(v)}=${printArg(v, 'v', depth)})`
}

/** Pads to the width with spaces (left, or right with `-`). Width counts runes. */
function pad (s: string): string {
  const f = state
  if (f.width < 0) return s
  const n = f.width - runeCount(s)
  if (n <= 0) return s
  return f.minus ? s + ' '.repeat(n) : ' '.repeat(n) + s
}

/** Pads numbers: zeros go after the sign. */
function padNumber (s: string): string {
  const f = state
  if (f.width < 0 || !f.zero || f.minus) return pad(s)
  const n = f.width - s.length
  if (n <= 0) return s
  const signed = s[0] === '-' || s[0] === '+' || s[0] === ' '
  return signed ? s[0] + '0'.repeat(n) + s.slice(1) : '0'.repeat(n) + s
}

function runeCount (s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xdc00 || c > 0xdfff) n++ // a low surrogate belongs to the rune before it
  }
  return n
}

// --- strings ---------------------------------------------------------------------------------

function fmtString (s: string, verb: string, depth: number): string {
  const f = state
  switch (verb) {
    case 'v': case 's':
      return pad(f.prec >= 0 ? truncateRunes(s, f.prec) : s)
    case 'q':
      return pad(f.sharp && canBackquote(s) ? '`' + s + '`' : quote(f.prec >= 0 ? truncateRunes(s, f.prec) : s, f.plus))
    case 'x': case 'X': {
      const bytes = Buffer.from(f.prec >= 0 ? truncateBytes(s, f.prec) : s, 'utf8')
      const digits = verb === 'x' ? '0123456789abcdef' : '0123456789ABCDEF'
      let out = ''
      for (let i = 0; i < bytes.length; i++) {
        const b = bytes[i] ?? 0
        if (f.space && i > 0) out += ' '
        if (f.sharp && (f.space || i === 0)) out += verb === 'x' ? '0x' : '0X'
        out += (digits[b >> 4] ?? '') + (digits[b & 15] ?? '')
      }
      return pad(out)
    }
    default:
      return badVerb(s, verb, depth)
  }
}

function truncateRunes (s: string, n: number): string {
  let runes = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xdc00 && c <= 0xdfff) continue
    if (runes === n) return s.slice(0, i)
    runes++
  }
  return s
}

function truncateBytes (s: string, n: number): string {
  const b = Buffer.from(s, 'utf8')
  return b.length <= n ? s : b.subarray(0, n).toString('utf8')
}

function canBackquote (s: string): boolean {
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0
    if (c === 0x60 || c === 0xfeff || (c < 0x20 && c !== 0x09) || c === 0x7f) return false
  }
  return true
}

/** strconv.Quote (QuoteToASCII when `asciiOnly`). */
export function quote (s: string, asciiOnly = false): string {
  let out = '"'
  for (const ch of s) {
    const r = ch.codePointAt(0) ?? 0
    if (r === 0x22 || r === 0x5c) { out += '\\' + ch; continue }
    if (r < 0x80 ? (r >= 0x20 && r < 0x7f) : (!asciiOnly && isPrint(ch))) { out += ch; continue }
    switch (r) {
      case 0x07: out += '\\a'; continue
      case 0x08: out += '\\b'; continue
      case 0x0c: out += '\\f'; continue
      case 0x0a: out += '\\n'; continue
      case 0x0d: out += '\\r'; continue
      case 0x09: out += '\\t'; continue
      case 0x0b: out += '\\v'; continue
    }
    if (r < 0x20 || r === 0x7f) out += '\\x' + r.toString(16).padStart(2, '0')
    else if (r < 0x10000) out += '\\u' + r.toString(16).padStart(4, '0')
    else out += '\\U' + r.toString(16).padStart(8, '0')
  }
  return out + '"'
}

// unicode.IsPrint beyond ASCII: letters, marks, numbers, punctuation and symbols (no spaces,
// controls, format characters or unassigned code points). Only reached for non-ASCII text.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u

/** unicode.IsPrint for one code point (as a string of one or two UTF-16 units). */
export function isPrint (ch: string): boolean {
  const c = ch.charCodeAt(0)
  if (c < 0x80) return c >= 0x20 && c < 0x7f
  return PRINTABLE.test(ch)
}

// --- integers --------------------------------------------------------------------------------

function fmtInteger (n: bigint, verb: string, depth: number): string {
  const f = state
  let base = 10
  let upper = false
  switch (verb) {
    case 'v': case 'd': break
    case 'b': base = 2; break
    case 'o': case 'O': base = 8; break
    case 'x': base = 16; break
    case 'X': base = 16; upper = true; break
    case 'c': return pad(String.fromCodePoint(validRune(n)))
    case 'q': return pad(quoteRune(validRune(n), f.plus))
    case 'U': {
      const hex = (n < 0n ? -n : n).toString(16).toUpperCase().padStart(4, '0')
      const r = validRune(n)
      return pad(`U+${hex}${f.sharp && r === Number(n) && isPrint(String.fromCodePoint(r)) ? ` '${String.fromCodePoint(r)}'` : ''}`)
    }
    default: return badVerb(n, verb, depth)
  }
  const neg = n < 0n
  let digits = (neg ? -n : n).toString(base)
  if (upper) digits = digits.toUpperCase()
  if (f.prec >= 0) {
    if (f.prec === 0 && n === 0n) digits = ''
    else if (digits.length < f.prec) digits = '0'.repeat(f.prec - digits.length) + digits
  }
  if (f.sharp) {
    if (base === 2) digits = '0b' + digits
    else if (base === 8 && digits[0] !== '0') digits = '0' + digits
    else if (base === 16) digits = (upper ? '0X' : '0x') + digits
  }
  if (verb === 'O') digits = '0o' + digits
  const sign = neg ? '-' : f.plus ? '+' : f.space ? ' ' : ''
  // Zero padding applies only without a precision (fmt.fmtInteger).
  if (f.prec >= 0) {
    const zero = f.zero
    f.zero = false
    const out = padNumber(sign + digits)
    f.zero = zero
    return out
  }
  return padNumber(sign + digits)
}

function validRune (n: bigint): number {
  return n >= 0n && n <= 0x10ffffn && !(n >= 0xd800n && n <= 0xdfffn) ? Number(n) : 0xfffd
}

function quoteRune (r: number, asciiOnly: boolean): string {
  const ch = String.fromCodePoint(r)
  if (r === 0x27) return `'\\''`
  if (r === 0x22) return `'"'`
  const q = quote(ch, asciiOnly)
  return `'${q.slice(1, -1)}'`
}

// --- floats ----------------------------------------------------------------------------------

/** Go's %v of a float64: strconv 'g' shortest, e-notation (`1e+06`, `1.5e-07`) when the exponent is < -4 or >= 6. */
export function formatFloat (f: number): string {
  if (isPlainDecimal(f)) return String(f)
  state.clear()
  return fmtFloatVerb(f, 'v', TOP)
}

/** Between 1e-4 and 1e6 Go's %v is a plain decimal with the shortest digits, as JS's String() (the fast path). */
function isPlainDecimal (f: number): boolean {
  const a = f < 0 ? -f : f
  return a >= 1e-4 && a < 1e6
}

/** No flag, width or precision that would change %v. */
function isPlainState (): boolean {
  const f = state
  return f.width < 0 && f.prec < 0 && !f.plus && !f.space && !f.sharp
}

function fmtFloatVerb (v: number, verb: string, depth: number): string {
  const f = state
  let conv: string
  let prec: number
  switch (verb) {
    case 'v': conv = 'g'; prec = -1; break
    case 'g': case 'G': conv = verb; prec = f.prec; break
    case 'e': case 'E': case 'f': case 'F': conv = verb; prec = f.prec >= 0 ? f.prec : 6; break
    default: return badVerb(v, verb, depth)
  }
  if (verb === 'v' && f.prec >= 0) prec = f.prec
  let num: string
  if (Number.isNaN(v)) {
    num = f.plus ? '+NaN' : f.space ? ' NaN' : 'NaN'
    return padNoZero(num)
  }
  if (!Number.isFinite(v)) {
    num = v > 0 ? (f.space && !f.plus ? ' Inf' : '+Inf') : '-Inf'
    return padNoZero(num)
  }
  const neg = v < 0 || Object.is(v, -0)
  let text = formatFloatAbs(Math.abs(v), conv, prec)
  if (f.sharp) text = sharpFloat(text)
  const sign = neg ? '-' : f.plus ? '+' : f.space ? ' ' : ''
  return padNumber(sign + text)
}

function padNoZero (s: string): string {
  const zero = state.zero
  state.zero = false
  const out = pad(s)
  state.zero = zero
  return out
}

/** `#` on a float keeps the decimal point (Go also keeps %g's trailing zeros; not done here). */
function sharpFloat (s: string): string {
  if (s.includes('.')) return s
  let e = s.indexOf('e')
  if (e < 0) e = s.indexOf('E')
  return e < 0 ? s + '.' : s.slice(0, e) + '.' + s.slice(e)
}

interface Digits {
  /** Significant digits, no leading or trailing zeros ('' for zero). */
  d: string
  /** Decimal point position: value = 0.d x 10^dp. */
  dp: number
}

/** strconv.FormatFloat(x, conv, prec, 64) for x >= 0, finite. prec -1 = shortest. */
function formatFloatAbs (x: number, conv: string, prec: number): string {
  let digs: Digits
  let shortest = false
  if (prec < 0) {
    shortest = true
    digs = shortestDigits(x)
    if (conv === 'e' || conv === 'E') prec = Math.max(digs.d.length - 1, 0)
    else if (conv === 'f' || conv === 'F') prec = Math.max(digs.d.length - digs.dp, 0)
    else prec = digs.d.length
  } else {
    const exact = exactDigits(x)
    if (conv === 'e' || conv === 'E') digs = roundDigits(exact, prec + 1)
    else if (conv === 'f' || conv === 'F') digs = roundDigits(exact, exact.dp + prec)
    else digs = roundDigits(exact, prec === 0 ? 1 : prec)
    if (conv === 'g' || conv === 'G') { if (prec === 0) prec = 1 }
  }
  switch (conv) {
    case 'e': case 'E': return fmtE(digs, prec, conv)
    case 'f': case 'F': return fmtF(digs, prec)
    default: {
      let eprec = prec
      const nd = digs.d.length
      if (eprec > nd && nd >= digs.dp) eprec = nd
      // %e is used if the exponent is < -4 or >= the precision; shortest uses precision 6.
      if (shortest) eprec = 6
      const exp = digs.dp - 1
      if (nd === 0 ? false : (exp < -4 || exp >= eprec)) {
        if (prec > nd) prec = nd
        return fmtE(digs, prec - 1, conv === 'g' ? 'e' : 'E')
      }
      if (prec > digs.dp) prec = nd
      return fmtF(digs, Math.max(prec - digs.dp, 0))
    }
  }
}

function fmtE (digs: Digits, prec: number, e: string): string {
  const d = digs.d
  let out = d.length > 0 ? d[0] ?? '0' : '0'
  if (prec > 0) {
    out += '.'
    const m = Math.min(d.length, prec + 1)
    if (m > 1) out += d.slice(1, m)
    for (let i = Math.max(m, 1); i <= prec; i++) out += '0'
  }
  let exp = d.length === 0 ? 0 : digs.dp - 1
  const sign = exp < 0 ? '-' : '+'
  if (exp < 0) exp = -exp
  return `${out}${e === 'E' ? 'E' : 'e'}${sign}${exp < 10 ? '0' : ''}${exp}`
}

function fmtF (digs: Digits, prec: number): string {
  const d = digs.d
  let out = ''
  if (digs.dp > 0) {
    const m = Math.min(d.length, digs.dp)
    out += d.slice(0, m) + '0'.repeat(digs.dp - m)
  } else {
    out += '0'
  }
  if (prec > 0) {
    out += '.'
    for (let i = 1; i <= prec; i++) {
      const j = digs.dp + i - 1
      out += j >= 0 && j < d.length ? d[j] : '0'
    }
  }
  return out
}

/** The shortest digits that read back as x (JS and Go agree on them). */
function shortestDigits (x: number): Digits {
  if (x === 0) return { d: '', dp: 0 }
  const s = x.toExponential()
  const e = s.indexOf('e')
  const mant = s.slice(0, e).replace('.', '')
  return { d: trimZeros(mant), dp: Number(s.slice(e + 1)) + 1 }
}

/** The exact decimal value of a double (every binary fraction has a finite decimal expansion). */
function exactDigits (x: number): Digits {
  if (x === 0) return { d: '', dp: 0 }
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, x)
  const bits = view.getBigUint64(0)
  const biased = Number((bits >> 52n) & 0x7ffn)
  let mant = bits & 0xfffffffffffffn
  let exp: number
  if (biased === 0) exp = -1074
  else { mant |= 1n << 52n; exp = biased - 1075 }
  let digits: string
  let dp: number
  if (exp >= 0) {
    digits = (mant << BigInt(exp)).toString()
    dp = digits.length
  } else {
    // mant / 2^k = mant * 5^k / 10^k
    const k = -exp
    digits = (mant * 5n ** BigInt(k)).toString()
    dp = digits.length - k
  }
  let lead = 0
  while (digits[lead] === '0') lead++
  return { d: trimZeros(digits.slice(lead)), dp }
}

/** Rounds to nd digits, ties to even (strconv's decimal.Round). */
function roundDigits (x: Digits, nd: number): Digits {
  const d = x.d
  if (nd < 0) return { d: '', dp: 0 }
  if (nd >= d.length) return x
  let up: boolean
  if (d[nd] === '5' && nd + 1 === d.length) up = nd > 0 && ((d.charCodeAt(nd - 1) - 0x30) % 2 === 1)
  else up = (d[nd] ?? '0') >= '5'
  if (!up) return { d: trimZeros(d.slice(0, nd)), dp: nd === 0 ? 0 : x.dp }
  // Round up: increment the kept digits, carrying.
  const kept = d.slice(0, nd).split('')
  let i = nd - 1
  while (i >= 0 && kept[i] === '9') { kept[i] = '0'; i-- }
  if (i < 0) return { d: '1', dp: x.dp + 1 }
  kept[i] = String.fromCharCode((kept[i] ?? '0').charCodeAt(0) + 1)
  return { d: trimZeros(kept.slice(0, i + 1).join('')), dp: x.dp }
}

function trimZeros (d: string): string {
  let n = d.length
  while (n > 0 && d[n - 1] === '0') n--
  return d.slice(0, n)
}
