// A subset of Go's text/template, enough for the request-log templates Knative operators write
// (config-observability `logging.request-log-template`): text, actions `{{ }}` with `{{-`/`-}}`
// trimming, comments, field chains (`.Request.Method`, niladic methods such as `.Request.UserAgent`),
// string/number literals, pipelines (`X | js`) and the functions js, html, urlquery, index, len,
// print, printf, println. Control actions (if, range, with, define, template, block) and variables
// are refused at compile time with a clear message, never silently mis-rendered.
//
// Values follow Go's printing rules (fmt %v): ints are bigint, float64 is number (shortest digits;
// e+06 form from 1e6 up and below 1e-4), []string prints as `[a b]`, a nil as `<nil>`, maps as
// `map[k:v]` sorted. A template is compiled once into closures; rendering builds only the output.

export class GoTemplateError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'GoTemplateError'
  }
}

/** A Go struct value: fields by name; a function is a niladic method (called when reached). */
export interface GoStruct { readonly [field: string]: GoValue | (() => GoValue) }
/** How a struct prints with %v when it is a Stringer (`*url.URL`): its String(). */
export const goString = Symbol('goString')
export type GoValue = string | bigint | number | boolean | null | readonly string[] | ReadonlyMap<string, readonly string[]> | GoStruct

type Eval = (dot: GoValue) => GoValue
type Fn = (args: GoValue[]) => GoValue

/** A compiled template: render(data) returns the text, or throws GoTemplateError at execution. */
export interface GoTemplate {
  render (data: GoValue): string
}

const UNSUPPORTED = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue', 'and', 'or', 'not', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'call', 'slice'])

export function compileGoTemplate (source: string): GoTemplate {
  const parts: Array<string | Eval> = []
  let i = 0
  let trimNext = false
  while (i < source.length) {
    const open = source.indexOf('{{', i)
    let text = open < 0 ? source.slice(i) : source.slice(i, open)
    if (trimNext) text = text.replace(/^\s+/, '')
    trimNext = false
    if (open < 0) { if (text !== '') parts.push(text); break }
    let start = open + 2
    if (source.startsWith('- ', start) || source.startsWith('-\t', start) || source.startsWith('-\n', start)) {
      text = text.replace(/\s+$/, '')
      start += 1
    }
    if (text !== '') parts.push(text)
    const close = findClose(source, start)
    if (close < 0) throw new GoTemplateError(`unclosed action at offset ${open}`)
    let end = close
    if (close >= 2 && source[close - 1] === '-' && /\s/.test(source[close - 2] ?? '')) {
      end = close - 1
      trimNext = true
    }
    const action = source.slice(start, end).trim()
    i = close + 2
    if (action.startsWith('/*')) {
      if (!action.endsWith('*/')) throw new GoTemplateError('unclosed comment')
      continue
    }
    parts.push(compilePipeline(action))
  }
  return {
    render (data: GoValue): string {
      let out = ''
      for (const p of parts) out += typeof p === 'string' ? p : sprint([p(data)])
      return out
    },
  }
}

/** `}}` outside string literals. */
function findClose (s: string, from: number): number {
  let q = ''
  for (let i = from; i < s.length - 1; i++) {
    const c = s[i]
    if (q !== '') {
      if (c === '\\' && q === '"') { i++; continue }
      if (c === q) q = ''
      continue
    }
    if (c === '"' || c === '`' || c === '\'') { q = c; continue }
    if (c === '}' && s[i + 1] === '}') return i
  }
  return -1
}

function compilePipeline (action: string): Eval {
  if (action === '') throw new GoTemplateError('missing value for command')
  const commands = splitOutsideQuotes(action, '|').map((c) => c.trim())
  let prev: Eval | null = null
  for (const cmd of commands) {
    if (cmd === '') throw new GoTemplateError(`missing command in pipeline: ${action}`)
    prev = compileCommand(cmd, prev)
  }
  if (prev === null) throw new GoTemplateError('empty pipeline')
  return prev
}

function compileCommand (cmd: string, piped: Eval | null): Eval {
  const words = tokenize(cmd)
  const head = words[0]
  if (head === undefined) throw new GoTemplateError('empty command')
  if (head.startsWith('$')) throw new GoTemplateError('variables are not supported in request log templates')
  if (/^[A-Za-z_]\w*$/.test(head) && !isLiteralWord(head)) {
    if (UNSUPPORTED.has(head)) throw new GoTemplateError(`"${head}" is not supported in request log templates (text, fields and the functions js, html, urlquery, index, len, print, printf, println are)`)
    const fn = FUNCS[head]
    if (fn === undefined) throw new GoTemplateError(`function "${head}" not defined`)
    const args = words.slice(1).map(compileOperand)
    if (piped !== null) args.push(piped)
    return (dot) => fn(args.map((a) => a(dot)))
  }
  if (words.length > 1 || piped !== null) throw new GoTemplateError(`can't give argument to non-function ${head}`)
  return compileOperand(head)
}

function isLiteralWord (w: string): boolean { return w === 'true' || w === 'false' || w === 'nil' }

function compileOperand (word: string): Eval {
  if (word === '.') return (dot) => dot
  if (word.startsWith('.')) {
    const path = word.slice(1).split('.')
    if (path.some((p) => !/^[A-Za-z_]\w*$/.test(p))) throw new GoTemplateError(`bad field ${word}`)
    return (dot) => walk(dot, path)
  }
  if (word.startsWith('$')) throw new GoTemplateError('variables are not supported in request log templates')
  if (word.startsWith('"')) { const s = parseQuoted(word); return () => s }
  if (word.startsWith('`')) { const s = word.slice(1, -1); return () => s }
  if (word === 'true' || word === 'false') { const b = word === 'true'; return () => b }
  if (word === 'nil') throw new GoTemplateError('nil is not a command')
  if (/^-?\d+$/.test(word)) { const n = BigInt(word); return () => n }
  if (/^-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/.test(word)) { const n = Number(word); return () => n }
  if (word.startsWith('(')) throw new GoTemplateError('parenthesized pipelines are not supported in request log templates')
  throw new GoTemplateError(`unexpected ${JSON.stringify(word)} in command`)
}

function walk (dot: GoValue, path: readonly string[]): GoValue {
  let cur: GoValue = dot
  for (const name of path) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || cur instanceof Map) {
      throw new GoTemplateError(`can't evaluate field ${name} in type ${goTypeName(cur)}`)
    }
    const struct = cur as GoStruct
    if (!Object.hasOwn(struct, name)) throw new GoTemplateError(`can't evaluate field ${name}`)
    const v = struct[name]
    cur = typeof v === 'function' ? v() : (v ?? null)
  }
  return cur
}

function goTypeName (v: GoValue): string {
  if (v === null) return 'nil'
  if (typeof v === 'string') return 'string'
  if (typeof v === 'bigint') return 'int'
  if (typeof v === 'number') return 'float64'
  if (typeof v === 'boolean') return 'bool'
  if (Array.isArray(v)) return '[]string'
  if (v instanceof Map) return 'map[string][]string'
  return 'struct'
}

/** Splits on `sep` outside quotes. */
function splitOutsideQuotes (s: string, sep: string): string[] {
  const out: string[] = []
  let q = ''
  let from = 0
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (q !== '') {
      if (c === '\\' && q === '"') { i++; continue }
      if (c === q) q = ''
      continue
    }
    if (c === '"' || c === '`') q = c
    else if (c === sep) { out.push(s.slice(from, i)); from = i + 1 }
  }
  out.push(s.slice(from))
  return out
}

function tokenize (cmd: string): string[] {
  const out: string[] = []
  let i = 0
  while (i < cmd.length) {
    const c = cmd[i] ?? ''
    if (/\s/.test(c)) { i++; continue }
    if (c === '"' || c === '`') {
      let j = i + 1
      while (j < cmd.length && cmd[j] !== c) j += cmd[j] === '\\' && c === '"' ? 2 : 1
      if (j >= cmd.length) throw new GoTemplateError('unterminated quoted string')
      out.push(cmd.slice(i, j + 1))
      i = j + 1
      continue
    }
    let j = i
    while (j < cmd.length && !/\s/.test(cmd[j] ?? '')) j++
    out.push(cmd.slice(i, j))
    i = j
  }
  return out
}

function parseQuoted (word: string): string {
  try {
    const v: unknown = JSON.parse(word)
    if (typeof v === 'string') return v
  } catch {}
  throw new GoTemplateError(`bad string literal ${word}`)
}

// --- printing (fmt) ------------------------------------------------------------------------------

/** Go's %v of one value. */
export function formatValue (v: GoValue): string {
  if (v === null) return '<nil>'
  if (typeof v === 'string') return v
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') return formatFloat(v)
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  if (Array.isArray(v)) return `[${v.join(' ')}]`
  if (v instanceof Map) {
    const keys = [...v.keys()].sort()
    return `map[${keys.map((k) => `${k}:${formatValue(v.get(k) ?? null)}`).join(' ')}]`
  }
  const s = (v as { [goString]?: () => string })[goString]
  if (typeof s === 'function') return s()
  return `{${Object.values(v).filter((x) => typeof x !== 'function').map((x) => formatValue(x as GoValue)).join(' ')}}`
}

/** Go's %v of a float64: strconv 'g' shortest, exponent when exp < -4 or exp >= 6 (ftoa.go's fixed 6). */
export function formatFloat (f: number): string {
  if (Number.isNaN(f)) return 'NaN'
  if (f === Number.POSITIVE_INFINITY) return '+Inf'
  if (f === Number.NEGATIVE_INFINITY) return '-Inf'
  if (f === 0) return Object.is(f, -0) ? '-0' : '0'
  const [mantissa = '0', expText = '0'] = f.toExponential().split('e')
  const exp = Number(expText)
  if (exp < -4 || exp >= 6) return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
  // JS prints plain decimals in this range with the same shortest digits.
  return f.toString()
}

function isStringish (v: GoValue): boolean { return typeof v === 'string' }

/** fmt.Sprint: a space between operands when neither side is a string. */
function sprint (args: readonly GoValue[]): string {
  let out = ''
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? null
    if (i > 0 && !isStringish(a) && !isStringish(args[i - 1] ?? null)) out += ' '
    out += formatValue(a)
  }
  return out
}

function sprintf (format: string, args: readonly GoValue[]): string {
  let out = ''
  let n = 0
  for (let i = 0; i < format.length; i++) {
    const c = format[i]
    if (c !== '%') { out += c; continue }
    const verb = format[++i]
    if (verb === '%') { out += '%'; continue }
    if (n >= args.length) { out += `%!${verb ?? ''}(MISSING)`; continue }
    const a = args[n++] ?? null
    switch (verb) {
      case 'v': case 's': out += formatValue(a); break
      case 'd': out += typeof a === 'bigint' ? a.toString() : `%!d(${goTypeName(a)}=${formatValue(a)})`; break
      case 'q': out += typeof a === 'string' ? JSON.stringify(a) : `%!q(${goTypeName(a)}=${formatValue(a)})`; break
      case 'f': out += typeof a === 'number' ? a.toFixed(6) : typeof a === 'bigint' ? `%!f(int=${a})` : `%!f(${goTypeName(a)}=${formatValue(a)})`; break
      default: out += `%!${verb ?? ''}(${goTypeName(a)}=${formatValue(a)})`
    }
  }
  if (n < args.length) out += `%!(EXTRA ${args.slice(n).map((a) => `${goTypeName(a)}=${formatValue(a)}`).join(', ')})`
  return out
}

/** template.JSEscapeString. */
export function jsEscape (s: string): string {
  let out = ''
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0
    switch (ch) {
      case '\\': out += '\\\\'; break
      case '\'': out += '\\\''; break
      case '"': out += '\\"'; break
      case '<': out += '\\u003C'; break
      case '>': out += '\\u003E'; break
      case '&': out += '\\u0026'; break
      case '=': out += '\\u003D'; break
      default:
        if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0) || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`
        else out += ch
    }
  }
  return out
}

/** template.HTMLEscapeString. */
function htmlEscape (s: string): string {
  return s.replace(/[\0"'&<>]/g, (c) => c === '\0' ? '\uFFFD' : c === '"' ? '&#34;' : c === '\'' ? '&#39;' : c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;')
}

/** url.QueryEscape. */
function queryEscape (s: string): string {
  let out = ''
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b)
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c
    else if (c === ' ') out += '+'
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

const FUNCS: Readonly<Record<string, Fn>> = {
  js: (args) => jsEscape(sprint(args)),
  html: (args) => htmlEscape(sprint(args)),
  urlquery: (args) => queryEscape(sprint(args)),
  print: (args) => sprint(args),
  println: (args) => args.map(formatValue).join(' ') + '\n',
  printf: (args) => {
    const f = args[0]
    if (typeof f !== 'string') throw new GoTemplateError('printf: the format must be a string')
    return sprintf(f, args.slice(1))
  },
  len: (args) => {
    const a = args[0] ?? null
    if (typeof a === 'string') return BigInt(Buffer.byteLength(a))
    if (Array.isArray(a)) return BigInt(a.length)
    if (a instanceof Map) return BigInt(a.size)
    throw new GoTemplateError(`len of type ${goTypeName(a)}`)
  },
  index: (args) => {
    let cur = args[0] ?? null
    for (const key of args.slice(1)) {
      if (cur instanceof Map) {
        if (typeof key !== 'string') throw new GoTemplateError('index: map key must be a string')
        cur = cur.get(key) ?? null
      } else if (Array.isArray(cur)) {
        if (typeof key !== 'bigint') throw new GoTemplateError('index: slice index must be an integer')
        const v: string | undefined = cur[Number(key)]
        if (v === undefined) throw new GoTemplateError(`index out of range: ${key}`)
        cur = v
      } else {
        throw new GoTemplateError(`can't index item of type ${goTypeName(cur)}`)
      }
    }
    // A missing map entry is the element type's zero value: a nil []string prints `[]`.
    return cur === null && args[0] instanceof Map ? [] : cur
  },
}
