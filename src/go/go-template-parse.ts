import type { GoValue } from './go-value.ts'
import {
  goQuote, type Item, itemString, lexTemplate, utf8Length,
  ITEM_ASSIGN, ITEM_BLOCK, ITEM_BOOL, ITEM_BREAK, ITEM_CHAR, ITEM_CHAR_CONSTANT, ITEM_COMPLEX, ITEM_CONTINUE, ITEM_DECLARE,
  ITEM_DEFINE, ITEM_DOT, ITEM_ELSE, ITEM_END, ITEM_EOF, ITEM_ERROR, ITEM_FIELD, ITEM_IDENTIFIER, ITEM_IF, ITEM_LEFT_DELIM,
  ITEM_LEFT_PAREN, ITEM_NIL, ITEM_NUMBER, ITEM_PIPE, ITEM_RANGE, ITEM_RAW_STRING, ITEM_RIGHT_DELIM, ITEM_RIGHT_PAREN,
  ITEM_SPACE, ITEM_STRING, ITEM_TEMPLATE, ITEM_TEXT, ITEM_VARIABLE, ITEM_WITH,
} from './go-template-lex.ts'
import { type GoComplex, parseGoNumber } from './go-template-number.ts'

// text/template/parse parse.go + node.go: the parse tree Go builds, with Go's node positions and
// String() forms (execution errors quote them: `at <.Request.Foo>`), and Go's parse errors word
// for word. The tree is built once; go-template-exec.ts walks it for each request.

/** A template Go's parser rejects: the message is Go's (`template: requestLog:1: unclosed action`). */
export class GoTemplateError extends Error {
  constructor (message: string) {
    // Reported once, at start or on a ConfigMap update: the stack would name only the parser.
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = limit
    this.name = 'GoTemplateError'
  }
}

/** The tree's source, for error locations (Go's ErrorContext). */
export class Source {
  readonly name: string
  readonly text: string
  constructor (name: string, text: string) { this.name = name; this.text = text }

  /** `name:line:col`, col in bytes from the line start (Go's ErrorContext). */
  location (pos: number): string {
    const text = this.text
    const nl = text.lastIndexOf('\n', pos - 1)
    let line = 1
    for (let i = 0; i < pos; i++) if (text.charCodeAt(i) === 10) line++
    const col = nl < 0 ? utf8Length(text.slice(0, pos)) : utf8Length(text.slice(nl + 1, pos))
    return `${this.name}:${line}:${col}`
  }
}

export const NODE_TEXT = 0
export const NODE_ACTION = 1
export const NODE_BOOL = 2
export const NODE_CHAIN = 3
export const NODE_COMMAND = 4
export const NODE_DOT = 5
export const NODE_FIELD = 7
export const NODE_IDENTIFIER = 8
export const NODE_IF = 9
export const NODE_LIST = 10
export const NODE_NIL = 11
export const NODE_NUMBER = 12
export const NODE_PIPE = 13
export const NODE_RANGE = 14
export const NODE_STRING = 15
export const NODE_TEMPLATE = 16
export const NODE_VARIABLE = 17
export const NODE_WITH = 18
export const NODE_COMMENT = 19
export const NODE_BREAK = 20
export const NODE_CONTINUE = 21
const NODE_END = 100
const NODE_ELSE = 101

export abstract class Node {
  abstract readonly type: number
  readonly pos: number
  readonly src: Source
  constructor (pos: number, src: Source) { this.pos = pos; this.src = src }
  abstract toString (): string
}

export class TextNode extends Node {
  readonly type = NODE_TEXT
  readonly text: string
  constructor (pos: number, src: Source, text: string) { super(pos, src); this.text = text }
  toString (): string { return this.text }
}

export class CommentNode extends Node {
  readonly type = NODE_COMMENT
  toString (): string { return '{{comment}}' }
}

export class ListNode extends Node {
  readonly type = NODE_LIST
  readonly nodes: Node[] = []
  toString (): string { return this.nodes.map(String).join('') }
}

export class VariableNode extends Node {
  readonly type = NODE_VARIABLE
  /** `$x` then field names. */
  readonly ident: readonly string[]
  constructor (pos: number, src: Source, ident: readonly string[]) { super(pos, src); this.ident = ident }
  toString (): string { return this.ident.join('.') }
}

export class PipeNode extends Node {
  readonly type = NODE_PIPE
  isAssign = false
  readonly decl: VariableNode[] = []
  readonly cmds: CommandNode[] = []
  toString (): string {
    let s = ''
    if (this.decl.length > 0) s = this.decl.map(String).join(', ') + (this.isAssign ? ' = ' : ' := ')
    return s + this.cmds.map(String).join(' | ')
  }
}

export class ActionNode extends Node {
  readonly type = NODE_ACTION
  readonly pipe: PipeNode
  constructor (pos: number, src: Source, pipe: PipeNode) { super(pos, src); this.pipe = pipe }
  toString (): string { return `{{${this.pipe.toString()}}}` }
}

export class CommandNode extends Node {
  readonly type = NODE_COMMAND
  readonly args: Node[] = []
  toString (): string {
    return this.args.map((a) => a instanceof PipeNode ? `(${a.toString()})` : a.toString()).join(' ')
  }
}

export class IdentifierNode extends Node {
  readonly type = NODE_IDENTIFIER
  readonly ident: string
  constructor (pos: number, src: Source, ident: string) { super(pos, src); this.ident = ident }
  toString (): string { return this.ident }
}

export class DotNode extends Node {
  readonly type = NODE_DOT
  toString (): string { return '.' }
}

export class NilNode extends Node {
  readonly type = NODE_NIL
  toString (): string { return 'nil' }
}

export class FieldNode extends Node {
  readonly type = NODE_FIELD
  readonly ident: readonly string[]
  constructor (pos: number, src: Source, ident: readonly string[]) { super(pos, src); this.ident = ident }
  toString (): string { return this.ident.map((id) => '.' + id).join('') }
}

export class ChainNode extends Node {
  readonly type = NODE_CHAIN
  readonly node: Node
  readonly field: string[] = []
  constructor (pos: number, src: Source, node: Node) { super(pos, src); this.node = node }
  toString (): string {
    const head = this.node instanceof PipeNode ? `(${this.node.toString()})` : this.node.toString()
    return head + this.field.map((f) => '.' + f).join('')
  }
}

export class BoolNode extends Node {
  readonly type = NODE_BOOL
  readonly value: boolean
  constructor (pos: number, src: Source, value: boolean) { super(pos, src); this.value = value }
  toString (): string { return this.value ? 'true' : 'false' }
}

export class NumberNode extends Node {
  readonly type = NODE_NUMBER
  readonly text: string
  readonly isInt: boolean
  readonly isUint: boolean
  readonly isFloat: boolean
  readonly isComplex: boolean
  /** int64 value when isInt. */
  readonly int64: bigint
  readonly float64: number
  readonly complex: GoComplex | null
  /** exec.go idealConstant's value when typed by syntax alone (null: overflows int). */
  readonly ideal: GoValue | null

  constructor (pos: number, src: Source, item: Item) {
    super(pos, src)
    const n = parseGoNumber(item.val, item.typ === ITEM_CHAR_CONSTANT, item.typ === ITEM_COMPLEX)
    if (typeof n === 'string') throw new ParseFailure(n)
    this.text = item.val
    this.isInt = n.isInt
    this.isUint = n.isUint
    this.isFloat = n.isFloat
    this.isComplex = n.isComplex
    this.int64 = n.int64
    this.float64 = n.float64
    this.complex = n.complex
    this.ideal = n.ideal
  }

  toString (): string { return this.text }
}

export class StringNode extends Node {
  readonly type = NODE_STRING
  readonly quoted: string
  readonly text: string
  constructor (pos: number, src: Source, quoted: string, text: string) { super(pos, src); this.quoted = quoted; this.text = text }
  toString (): string { return this.quoted }
}

abstract class BranchNode extends Node {
  readonly pipe: PipeNode
  readonly list: ListNode
  readonly elseList: ListNode | null
  abstract readonly keyword: string
  constructor (pos: number, src: Source, pipe: PipeNode, list: ListNode, elseList: ListNode | null) {
    super(pos, src)
    this.pipe = pipe
    this.list = list
    this.elseList = elseList
  }

  toString (): string {
    return `{{${this.keyword} ${this.pipe.toString()}}}${this.list.toString()}${this.elseList === null ? '' : `{{else}}${this.elseList.toString()}`}{{end}}`
  }
}

export class IfNode extends BranchNode { readonly type = NODE_IF; readonly keyword = 'if' }
export class RangeNode extends BranchNode { readonly type = NODE_RANGE; readonly keyword = 'range' }
export class WithNode extends BranchNode { readonly type = NODE_WITH; readonly keyword = 'with' }

export class BreakNode extends Node {
  readonly type = NODE_BREAK
  toString (): string { return '{{break}}' }
}

export class ContinueNode extends Node {
  readonly type = NODE_CONTINUE
  toString (): string { return '{{continue}}' }
}

export class TemplateNode extends Node {
  readonly type = NODE_TEMPLATE
  readonly name: string
  readonly pipe: PipeNode | null
  constructor (pos: number, src: Source, name: string, pipe: PipeNode | null) { super(pos, src); this.name = name; this.pipe = pipe }
  toString (): string { return `{{template ${goQuote(this.name)}${this.pipe === null ? '' : ' ' + this.pipe.toString()}}}` }
}

class EndNode extends Node {
  readonly type = NODE_END
  toString (): string { return '{{end}}' }
}

class ElseNode extends Node {
  readonly type = NODE_ELSE
  toString (): string { return '{{else}}' }
}

/** A parse error raised below the parser (number syntax, unquoting): reported at the current line. */
class ParseFailure extends Error {}

/** The parsed templates: name -> root list (the top-level one and every define/block). */
export type TreeSet = Map<string, ListNode>

/** parse.go maxStackDepth. */
const MAX_STACK_DEPTH = 10000

/**
 * template.New(name).Parse(text): the tree set, or GoTemplateError with Go's message. Functions
 * are the builtins only (Knative adds none).
 */
export function parseTemplate (name: string, text: string, funcs: ReadonlySet<string>): TreeSet {
  const items = lexTemplate(text)
  const src = new Source(name, text)
  const treeSet: TreeSet = new Map()
  const p = new Parser(items, src, funcs, treeSet, name)
  try {
    p.parseTop()
  } catch (err) {
    if (err instanceof ParseFailure) throw new GoTemplateError(`template: ${name}:${p.errorLine()}: ${err.message}`)
    throw err
  }
  return treeSet
}

class Parser {
  readonly #items: readonly Item[]
  readonly #src: Source
  readonly #funcs: ReadonlySet<string>
  readonly #treeSet: TreeSet
  readonly #parseName: string
  #i = 0
  /** The furthest item read: Go's t.token[0], whose line parse errors report. */
  #furthest = 0
  #vars: string[] = ['$']
  #rangeDepth = 0
  #actionLine = 0
  #stackDepth = 0
  /** The name of the tree being parsed (the top level's, a define's or a block's). */
  #name: string

  constructor (items: readonly Item[], src: Source, funcs: ReadonlySet<string>, treeSet: TreeSet, name: string) {
    this.#items = items
    this.#src = src
    this.#funcs = funcs
    this.#treeSet = treeSet
    this.#parseName = name
    this.#name = name
  }

  errorLine (): number { return this.#items[this.#furthest]?.line ?? 1 }

  #errorf (message: string): never {
    throw new ParseFailure(message)
  }

  #at (i: number): Item {
    if (i > this.#furthest) this.#furthest = Math.min(i, this.#items.length - 1)
    return this.#items[i] ?? this.#items[this.#items.length - 1] ?? { typ: ITEM_EOF, pos: 0, val: 'EOF', line: 1 }
  }

  #next (): Item { return this.#at(this.#i++) }
  #backup (n = 1): void { this.#i -= n }
  #peek (): Item { return this.#at(this.#i) }
  #nextNonSpace (): Item {
    let t = this.#next()
    while (t.typ === ITEM_SPACE) t = this.#next()
    return t
  }

  #peekNonSpace (): Item {
    const save = this.#i
    const t = this.#nextNonSpace()
    this.#i = save
    // Go backs up one token, but the spaces stay consumed: they never matter to what follows.
    while (this.#items[this.#i]?.typ === ITEM_SPACE) this.#i++
    return t
  }

  #expect (typ: number, context: string): Item {
    const t = this.#nextNonSpace()
    if (t.typ !== typ) this.#unexpected(t, context)
    return t
  }

  #unexpected (token: Item, context: string): never {
    if (token.typ === ITEM_ERROR) {
      let extra = ''
      if (this.#actionLine !== 0 && this.#actionLine !== token.line) {
        extra = ` in action started at ${this.#parseName}:${this.#actionLine}`
        if (token.val.endsWith(' action')) extra = extra.slice(' in action'.length)
      }
      this.#errorf(token.val + extra)
    }
    this.#errorf(`unexpected ${itemString(token)} in ${context}`)
  }

  /** parse.go add(): a second non-empty definition of a name is an error. */
  #add (name: string, root: ListNode): void {
    const old = this.#treeSet.get(name)
    if (old === undefined || isEmptyTree(old)) {
      this.#treeSet.set(name, root)
      return
    }
    if (!isEmptyTree(root)) this.#errorf(`template: multiple definition of template ${goQuote(name)}`)
  }

  parseTop (): void {
    const root = new ListNode(this.#peek().pos, this.#src)
    while (this.#peek().typ !== ITEM_EOF) {
      if (this.#peek().typ === ITEM_LEFT_DELIM) {
        const save = this.#i
        this.#next()
        if (this.#nextNonSpace().typ === ITEM_DEFINE) {
          this.#parseDefinition()
          continue
        }
        this.#i = save
      }
      const n = this.#textOrAction()
      if (n.type === NODE_END || n.type === NODE_ELSE) this.#errorf(`unexpected ${n.toString()}`)
      root.nodes.push(n)
    }
    this.#add(this.#name, root)
  }

  #parseDefinition (): void {
    const context = 'define clause'
    const outerName = this.#name
    const outerVars = this.#vars
    const outerRange = this.#rangeDepth
    this.#vars = ['$']
    this.#rangeDepth = 0
    const token = this.#nextNonSpace()
    if (token.typ !== ITEM_STRING && token.typ !== ITEM_RAW_STRING) this.#unexpected(token, context)
    this.#name = unquote(token)
    this.#expect(ITEM_RIGHT_DELIM, context)
    const [root, end] = this.#itemList()
    if (end.type !== NODE_END) this.#errorf(`unexpected ${end.toString()} in ${context}`)
    this.#add(this.#name, root)
    this.#name = outerName
    this.#vars = outerVars
    this.#rangeDepth = outerRange
  }

  #itemList (): [ListNode, Node] {
    const list = new ListNode(this.#peekNonSpace().pos, this.#src)
    while (this.#peekNonSpace().typ !== ITEM_EOF) {
      const n = this.#textOrAction()
      if (n.type === NODE_END || n.type === NODE_ELSE) return [list, n]
      list.nodes.push(n)
    }
    this.#errorf('unexpected EOF')
  }

  #textOrAction (): Node {
    const token = this.#nextNonSpace()
    switch (token.typ) {
      case ITEM_TEXT: return new TextNode(token.pos, this.#src, token.val)
      case ITEM_LEFT_DELIM: {
        this.#actionLine = token.line
        const n = this.#action()
        this.#actionLine = 0 // Go's clearActionLine, also after a nested action
        return n
      }
    }
    this.#unexpected(token, 'input')
  }

  #action (): Node {
    const token = this.#nextNonSpace()
    switch (token.typ) {
      case ITEM_BLOCK: return this.#blockControl()
      case ITEM_BREAK: return this.#breakControl(token)
      case ITEM_CONTINUE: return this.#continueControl(token)
      case ITEM_ELSE: return this.#elseControl()
      case ITEM_END: return new EndNode(this.#expect(ITEM_RIGHT_DELIM, 'end').pos, this.#src)
      case ITEM_IF: return this.#control('if')
      case ITEM_RANGE: return this.#control('range')
      case ITEM_TEMPLATE: return this.#templateControl()
      case ITEM_WITH: return this.#control('with')
    }
    this.#backup()
    const t = this.#peek()
    return new ActionNode(t.pos, this.#src, this.#pipeline('command', ITEM_RIGHT_DELIM))
  }

  #breakControl (token: Item): Node {
    const t = this.#nextNonSpace()
    if (t.typ !== ITEM_RIGHT_DELIM) this.#unexpected(t, '{{break}}')
    if (this.#rangeDepth === 0) this.#errorf('{{break}} outside {{range}}')
    return new BreakNode(token.pos, this.#src)
  }

  #continueControl (token: Item): Node {
    const t = this.#nextNonSpace()
    if (t.typ !== ITEM_RIGHT_DELIM) this.#unexpected(t, '{{continue}}')
    if (this.#rangeDepth === 0) this.#errorf('{{continue}} outside {{range}}')
    return new ContinueNode(token.pos, this.#src)
  }

  #pipeline (context: string, end: number): PipeNode {
    const token = this.#peekNonSpace()
    const pipe = new PipeNode(token.pos, this.#src)
    for (;;) {
      const v = this.#peekNonSpace()
      if (v.typ !== ITEM_VARIABLE) break
      const save = this.#i
      this.#next()
      const next = this.#peekNonSpace()
      if (next.typ === ITEM_ASSIGN || next.typ === ITEM_DECLARE) {
        pipe.isAssign = next.typ === ITEM_ASSIGN
        this.#nextNonSpace()
        pipe.decl.push(new VariableNode(v.pos, this.#src, [v.val]))
        this.#vars.push(v.val)
        break
      }
      if (next.typ === ITEM_CHAR && next.val === ',') {
        this.#nextNonSpace()
        pipe.decl.push(new VariableNode(v.pos, this.#src, [v.val]))
        this.#vars.push(v.val)
        if (context === 'range' && pipe.decl.length < 2) {
          const t = this.#peekNonSpace().typ
          if (t === ITEM_VARIABLE || t === ITEM_RIGHT_DELIM || t === ITEM_RIGHT_PAREN) continue
          this.#errorf('range can only initialize variables')
        }
        this.#errorf(`too many declarations in ${context}`)
      }
      this.#i = save
      break
    }
    for (;;) {
      const t = this.#nextNonSpace()
      if (t.typ === end) {
        this.#checkPipeline(pipe, context)
        return pipe
      }
      switch (t.typ) {
        case ITEM_BOOL: case ITEM_CHAR_CONSTANT: case ITEM_COMPLEX: case ITEM_DOT: case ITEM_FIELD: case ITEM_IDENTIFIER:
        case ITEM_NUMBER: case ITEM_NIL: case ITEM_RAW_STRING: case ITEM_STRING: case ITEM_VARIABLE: case ITEM_LEFT_PAREN:
          this.#backup()
          pipe.cmds.push(this.#command())
          break
        default:
          this.#unexpected(t, context)
      }
    }
  }

  #checkPipeline (pipe: PipeNode, context: string): void {
    if (pipe.cmds.length === 0) this.#errorf(`missing value for ${context}`)
    for (let i = 1; i < pipe.cmds.length; i++) {
      const t = pipe.cmds[i]?.args[0]?.type
      if (t === NODE_BOOL || t === NODE_DOT || t === NODE_NIL || t === NODE_NUMBER || t === NODE_STRING) {
        this.#errorf(`non executable command in pipeline stage ${i + 1}`)
      }
    }
  }

  #control (context: 'if' | 'range' | 'with'): Node {
    const varsLen = this.#vars.length
    const pipe = this.#pipeline(context, ITEM_RIGHT_DELIM)
    if (context === 'range') this.#rangeDepth++
    const [list, first] = this.#itemList()
    let next = first
    if (context === 'range') this.#rangeDepth--
    let elseList: ListNode | null = null
    if (next.type === NODE_ELSE) {
      const peek = this.#peek().typ
      if ((context === 'if' && peek === ITEM_IF) || (context === 'with' && peek === ITEM_WITH)) {
        this.#next()
        elseList = new ListNode(next.pos, this.#src)
        elseList.nodes.push(this.#control(context))
      } else {
        [elseList, next] = this.#itemList()
        if (next.type !== NODE_END) this.#errorf(`expected end; found ${next.toString()}`)
      }
    }
    this.#vars.length = varsLen
    const pos = pipe.pos
    if (context === 'if') return new IfNode(pos, this.#src, pipe, list, elseList)
    if (context === 'range') return new RangeNode(pos, this.#src, pipe, list, elseList)
    return new WithNode(pos, this.#src, pipe, list, elseList)
  }

  #elseControl (): Node {
    const peek = this.#peekNonSpace()
    if (peek.typ === ITEM_IF || peek.typ === ITEM_WITH) return new ElseNode(peek.pos, this.#src)
    const token = this.#expect(ITEM_RIGHT_DELIM, 'else')
    return new ElseNode(token.pos, this.#src)
  }

  #blockControl (): Node {
    const context = 'block clause'
    const token = this.#nextNonSpace()
    const name = this.#templateName(token, context)
    const pipe = this.#pipeline(context, ITEM_RIGHT_DELIM)
    const outerName = this.#name
    const outerVars = this.#vars
    const outerRange = this.#rangeDepth
    this.#name = name
    this.#vars = ['$']
    this.#rangeDepth = 0
    const [root, end] = this.#itemList()
    if (end.type !== NODE_END) this.#errorf(`unexpected ${end.toString()} in ${context}`)
    this.#add(name, root)
    this.#name = outerName
    this.#vars = outerVars
    this.#rangeDepth = outerRange
    return new TemplateNode(token.pos, this.#src, name, pipe)
  }

  #templateControl (): Node {
    const context = 'template clause'
    const token = this.#nextNonSpace()
    const name = this.#templateName(token, context)
    let pipe: PipeNode | null = null
    if (this.#nextNonSpace().typ !== ITEM_RIGHT_DELIM) {
      this.#backup()
      pipe = this.#pipeline(context, ITEM_RIGHT_DELIM)
    }
    return new TemplateNode(token.pos, this.#src, name, pipe)
  }

  #templateName (token: Item, context: string): string {
    if (token.typ === ITEM_STRING || token.typ === ITEM_RAW_STRING) return unquote(token)
    this.#unexpected(token, context)
  }

  #command (): CommandNode {
    const cmd = new CommandNode(this.#peekNonSpace().pos, this.#src)
    for (;;) {
      this.#peekNonSpace()
      const operand = this.#operand()
      if (operand !== null) cmd.args.push(operand)
      const token = this.#next()
      if (token.typ === ITEM_SPACE) continue
      if (token.typ === ITEM_RIGHT_DELIM || token.typ === ITEM_RIGHT_PAREN) this.#backup()
      else if (token.typ !== ITEM_PIPE) this.#unexpected(token, 'operand')
      break
    }
    if (cmd.args.length === 0) this.#errorf('empty command')
    return cmd
  }

  #operand (): Node | null {
    let node = this.#term()
    if (node === null) return null
    if (this.#peek().typ === ITEM_FIELD) {
      const chain = new ChainNode(this.#peek().pos, this.#src, node)
      while (this.#peek().typ === ITEM_FIELD) {
        const f = this.#next().val
        chain.field.push(intern(f.slice(1)))
      }
      if (node instanceof FieldNode) node = new FieldNode(chain.pos, this.#src, [...node.ident, ...chain.field])
      else if (node instanceof VariableNode) node = new VariableNode(chain.pos, this.#src, [...node.ident, ...chain.field])
      else if (node instanceof BoolNode || node instanceof StringNode || node instanceof NumberNode || node instanceof NilNode || node instanceof DotNode) {
        this.#errorf(`unexpected . after term ${goQuote(node.toString())}`)
      } else node = chain
    }
    return node
  }

  #term (): Node | null {
    const token = this.#nextNonSpace()
    switch (token.typ) {
      case ITEM_IDENTIFIER:
        if (!this.#funcs.has(token.val)) this.#errorf(`function ${goQuote(token.val)} not defined`)
        return new IdentifierNode(token.pos, this.#src, token.val)
      case ITEM_DOT: return new DotNode(token.pos, this.#src)
      case ITEM_NIL: return new NilNode(token.pos, this.#src)
      case ITEM_VARIABLE: return this.#useVar(token)
      case ITEM_FIELD: return new FieldNode(token.pos, this.#src, token.val.slice(1).split('.').map(intern))
      case ITEM_BOOL: return new BoolNode(token.pos, this.#src, token.val === 'true')
      case ITEM_CHAR_CONSTANT: case ITEM_COMPLEX: case ITEM_NUMBER:
        return new NumberNode(token.pos, this.#src, token)
      case ITEM_LEFT_PAREN: {
        if (this.#stackDepth >= MAX_STACK_DEPTH) this.#errorf('max expression depth exceeded')
        this.#stackDepth++
        try {
          return this.#pipeline('parenthesized pipeline', ITEM_RIGHT_PAREN)
        } finally {
          this.#stackDepth--
        }
      }
      case ITEM_STRING: case ITEM_RAW_STRING:
        return new StringNode(token.pos, this.#src, token.val, unquote(token))
    }
    this.#backup()
    return null
  }

  #useVar (token: Item): Node {
    const ident = token.val.split('.')
    const v = new VariableNode(token.pos, this.#src, ident)
    if (this.#vars.includes(ident[0] ?? '')) return v
    this.#errorf(`undefined variable ${goQuote(ident[0] ?? '')}`)
  }
}

/**
 * The internalized copy of a field name: the models' `switch (name)` then compares pointers, not
 * characters (a name sliced out of the template text is not internalized by V8).
 */
function intern (name: string): string {
  return Object.keys({ [name]: 0 })[0] ?? name
}

/** Only unicode.IsSpace characters (JS's trim() also drops U+FEFF, which Go keeps). */
const GO_SPACE_ONLY = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/

/** parse.go IsEmptyTree. */
function isEmptyTree (n: Node): boolean {
  if (n instanceof ListNode) return n.nodes.every(isEmptyTree)
  if (n instanceof CommentNode) return true
  if (n instanceof TextNode) return GO_SPACE_ONLY.test(n.text) // bytes.TrimSpace: unicode.IsSpace
  return false
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 0x5c }

/** strconv.Unquote of a "..." or `...` token; a malformed one fails with strconv's `invalid syntax`. */
function unquote (item: Item): string {
  const text = item.val
  if (item.typ === ITEM_RAW_STRING) return text.slice(1, -1).replaceAll('\r', '')
  const body = text.slice(1, -1)
  const bytes: number[] = []
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
    if (e === '"') { bytes.push(0x22); continue }
    if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8
      const hex = body.slice(i + 1, i + 1 + n)
      if (hex.length !== n || !/^[0-9a-fA-F]+$/.test(hex)) throw new ParseFailure('invalid syntax')
      const v = Number.parseInt(hex, 16)
      i += n
      if (e === 'x') { bytes.push(v); continue }
      if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) throw new ParseFailure('invalid syntax')
      for (const b of Buffer.from(String.fromCodePoint(v), 'utf8')) bytes.push(b)
      continue
    }
    if (e >= '0' && e <= '7') {
      const oct = body.slice(i, i + 3)
      if (!/^[0-7]{3}$/.test(oct)) throw new ParseFailure('invalid syntax')
      const v = Number.parseInt(oct, 8)
      if (v > 255) throw new ParseFailure('invalid syntax')
      bytes.push(v)
      i += 2
      continue
    }
    throw new ParseFailure('invalid syntax')
  }
  return decodeBytes(bytes)
}

/** Bytes as a JS string: valid UTF-8 decoded; invalid bytes kept as U+FFFD (Go would keep the byte). */
function decodeBytes (bytes: number[]): string {
  return Buffer.from(bytes).toString('utf8')
}
