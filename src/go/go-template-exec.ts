import { formatTemplateValue, formatValue } from './go-fmt.ts'
import {
  BUILTINS, FuncError, isTrue, truth, typeName, type ParamType, type Signature, type TValue,
  T_ANY, T_INT, T_STRING, T_VALUE,
} from './go-template-funcs.ts'
import {
  ActionNode, BoolNode, BreakNode, ChainNode, CommandNode, CommentNode, ContinueNode, DotNode, FieldNode, IdentifierNode,
  IfNode, ListNode, NilNode, type Node, NumberNode, PipeNode, RangeNode, StringNode, TemplateNode, TextNode, type TreeSet,
  VariableNode, WithNode,
} from './go-template-parse.ts'
import { GoExecError, GoNil, GoStringMap, isStringSlice, NO_VALUE, type GoObject, type GoValue } from './go-value.ts'

// text/template exec.go: walks the parse tree for one data value, as Go's state.walk does, with
// Go's variable scopes (a declaration lives until the {{end}} of the enclosing control; range
// resets per iteration; a {{template}} sees only `$`), Go's evaluation order, and Go's execution
// errors: `template: requestLog:1:11: executing "requestLog" at <.Response.Nope>: can't evaluate
// field Nope in type *http.RequestLogResponse`. `s.node` follows Go's s.at() calls, so each error
// names the node Go names.

/** exec.go maxExecDepth. */
const MAX_EXEC_DEPTH = 100000

/** "No piped value" (exec.go missingVal): the command is the first of its pipeline. */
const MISSING: unique symbol = Symbol('missing')
type Final = TValue | typeof MISSING

/** Thrown by {{break}} / {{continue}}; caught by the enclosing range. */
const WALK_BREAK = { kind: 'break' }
const WALK_CONTINUE = { kind: 'continue' }

/** An execution error with its location: raised once, then passed up untouched. */
export class GoTemplateExecError extends GoExecError {}

interface Variable { name: string, value: TValue }

/** The method parameter types an object declares (go-value.ts GoObject.goParams). */
function methodParams (o: GoObject, name: string): readonly string[] | null {
  return o.goParams === undefined ? null : o.goParams(name)
}

function isObject (v: TValue): v is GoObject {
  return typeof v === 'object' && v !== null && !isStringSlice(v)
}

export class ExecState {
  readonly #trees: TreeSet
  #tmplName: string
  #node: Node | null = null
  #vars: Variable[]
  #depth = 0
  out = ''

  constructor (trees: TreeSet, name: string, data: TValue) {
    this.#trees = trees
    this.#tmplName = name
    this.#vars = [{ name: '$', value: data }]
  }

  execute (data: TValue): string {
    const root = this.#trees.get(this.#tmplName)
    if (root === undefined) this.#errorf(`${JSON.stringify(this.#tmplName)} is an incomplete or empty template`)
    this.#walk(data, root)
    return this.out
  }

  #errorf (message: string): never {
    const n = this.#node
    if (n === null) throw new GoTemplateExecError(`template: ${this.#tmplName}: ${message}`)
    throw new GoTemplateExecError(`template: ${n.src.location(n.pos)}: executing ${goQuoteName(this.#tmplName)} at <${n.toString()}>: ${message}`)
  }

  #at (n: Node): void { this.#node = n }

  // --- variables ---

  #push (name: string, value: TValue): void { this.#vars.push({ name, value }) }
  #mark (): number { return this.#vars.length }
  #pop (mark: number): void { this.#vars.length = mark }

  #setVar (name: string, value: TValue): void {
    for (let i = this.#vars.length - 1; i >= 0; i--) {
      const v = this.#vars[i]
      if (v !== undefined && v.name === name) { v.value = value; return }
    }
    this.#errorf(`undefined variable: ${name}`)
  }

  #setTopVar (n: number, value: TValue): void {
    const v = this.#vars[this.#vars.length - n]
    if (v !== undefined) v.value = value
  }

  #varValue (name: string): TValue {
    for (let i = this.#vars.length - 1; i >= 0; i--) {
      const v = this.#vars[i]
      if (v !== undefined && v.name === name) return v.value
    }
    this.#errorf(`undefined variable: ${name}`)
  }

  // --- walk ---

  #walk (dot: TValue, node: Node): void {
    this.#at(node)
    if (node instanceof TextNode) { this.out += node.text; return }
    if (node instanceof ActionNode) {
      const val = this.#evalPipeline(dot, node.pipe)
      if (node.pipe.decl.length === 0) this.#printValue(node, val)
      return
    }
    if (node instanceof ListNode) {
      for (const n of node.nodes) this.#walk(dot, n)
      return
    }
    if (node instanceof IfNode) { this.#walkIfOrWith(false, dot, node.pipe, node.list, node.elseList); return }
    if (node instanceof WithNode) { this.#walkIfOrWith(true, dot, node.pipe, node.list, node.elseList); return }
    if (node instanceof RangeNode) { this.#walkRange(dot, node); return }
    if (node instanceof TemplateNode) { this.#walkTemplate(dot, node); return }
    if (node instanceof BreakNode) throw WALK_BREAK
    if (node instanceof ContinueNode) throw WALK_CONTINUE
    if (node instanceof CommentNode) return
    this.#errorf(`unknown node: ${node.toString()}`)
  }

  #walkIfOrWith (isWith: boolean, dot: TValue, pipe: PipeNode, list: ListNode, elseList: ListNode | null): void {
    const mark = this.#mark()
    try {
      const val = this.#evalPipeline(dot, pipe)
      const [t, ok] = isTrue(val)
      if (!ok) this.#errorf(`if/with can't use ${formatValue(plainValue(val))}`)
      if (t) this.#walk(isWith ? val : dot, list)
      else if (elseList !== null) this.#walk(dot, elseList)
    } finally {
      this.#pop(mark)
    }
  }

  #walkRange (dot: TValue, r: RangeNode): void {
    this.#at(r)
    const outer = this.#mark()
    try {
      const val = this.#evalPipeline(dot, r.pipe)
      const mark = this.#mark()
      const decl = r.pipe.decl
      const one = (index: TValue, elem: TValue): void => {
        if (decl.length > 0) {
          if (r.pipe.isAssign) this.#setVar(decl[decl.length > 1 ? 0 : 0]?.ident[0] ?? '', decl.length > 1 ? index : elem)
          else this.#setTopVar(1, elem)
        }
        if (decl.length > 1) {
          if (r.pipe.isAssign) this.#setVar(decl[1]?.ident[0] ?? '', elem)
          else this.#setTopVar(2, index)
        }
        try {
          this.#walk(elem, r.list)
        } catch (err) {
          if (err !== WALK_CONTINUE) throw err
        } finally {
          this.#pop(mark)
        }
      }
      let ran = false
      if (typeof val === 'bigint') {
        if (decl.length > 1) this.#errorf(`can't use ${val} to iterate over more than one variable`)
        for (let i = 0n; i < val; i++) { ran = true; one(NO_VALUE, i) }
      } else if (isStringSlice(val)) {
        for (let i = 0; i < val.length; i++) { ran = true; one(BigInt(i), val[i] ?? '') }
      } else if (val instanceof GoStringMap) {
        const keys = [...val.entries.keys()].sort(compareBytes)
        for (const k of keys) { ran = true; one(k, val.entries.get(k) ?? []) }
      } else if (val === NO_VALUE) {
        // An invalid value acts like an empty map.
      } else {
        this.#errorf(`range can't iterate over ${formatTemplateValue(val)}`) // Go indirects val first: `{...}`, no `&`
      }
      if (!ran && r.elseList !== null) this.#walk(dot, r.elseList)
    } catch (err) {
      if (err !== WALK_BREAK) throw err
    } finally {
      this.#pop(outer)
    }
  }

  #walkTemplate (dot: TValue, t: TemplateNode): void {
    this.#at(t)
    const root = this.#trees.get(t.name)
    if (root === undefined) this.#errorf(`template ${goQuoteName(t.name)} not defined`)
    if (this.#depth === MAX_EXEC_DEPTH) this.#errorf(`exceeded maximum template depth (${MAX_EXEC_DEPTH})`)
    const newDot = t.pipe === null ? NO_VALUE : this.#evalPipeline(dot, t.pipe)
    const saved = { name: this.#tmplName, vars: this.#vars }
    this.#depth++
    this.#tmplName = t.name
    this.#vars = [{ name: '$', value: newDot }]
    try {
      this.#walk(newDot, root)
    } catch (err) {
      // Go stops at depth 100000 (exec.go maxExecDepth); JS's stack ends first. Unbounded depth
      // only comes from a template calling itself, so a stack overflow here is that error.
      if (!(err instanceof RangeError)) throw err
      this.#tmplName = saved.name
      this.#vars = saved.vars
      this.#at(t)
      this.#errorf(`exceeded maximum template depth (${MAX_EXEC_DEPTH})`)
    } finally {
      this.#depth--
      this.#tmplName = saved.name
      this.#vars = saved.vars
    }
  }

  // --- eval ---

  #evalPipeline (dot: TValue, pipe: PipeNode): TValue {
    this.#at(pipe)
    let value: Final = MISSING
    for (const cmd of pipe.cmds) value = this.#evalCommand(dot, cmd, value)
    const v: TValue = value === MISSING ? NO_VALUE : value
    for (const variable of pipe.decl) {
      const name = variable.ident[0] ?? ''
      if (pipe.isAssign) this.#setVar(name, v)
      else this.#push(name, v)
    }
    return v
  }

  #notAFunction (args: readonly Node[], final: Final): void {
    if (args.length > 1 || final !== MISSING) this.#errorf(`can't give argument to non-function ${args[0]?.toString() ?? ''}`)
  }

  #evalCommand (dot: TValue, cmd: CommandNode, final: Final): TValue {
    const first = cmd.args[0]
    if (first instanceof FieldNode) return this.#evalFieldNode(dot, first, cmd.args, final)
    if (first instanceof ChainNode) return this.#evalChainNode(dot, first, cmd.args, final)
    if (first instanceof IdentifierNode) return this.#evalFunction(dot, first, cmd, cmd.args, final)
    if (first instanceof PipeNode) {
      this.#notAFunction(cmd.args, final)
      return this.#evalPipeline(dot, first)
    }
    if (first instanceof VariableNode) return this.#evalVariableNode(dot, first, cmd.args, final)
    if (first === undefined) this.#errorf('empty command')
    this.#at(first)
    this.#notAFunction(cmd.args, final)
    if (first instanceof BoolNode) return first.value
    if (first instanceof DotNode) return dot
    if (first instanceof NilNode) this.#errorf('nil is not a command')
    if (first instanceof NumberNode) return this.#idealConstant(first)
    if (first instanceof StringNode) return first.text
    this.#errorf(`can't evaluate command ${JSON.stringify(first.toString())}`)
  }

  #idealConstant (n: NumberNode): TValue {
    this.#at(n)
    if (n.ideal === null) this.#errorf(`${n.text} overflows int`)
    return n.ideal
  }

  #evalFieldNode (dot: TValue, field: FieldNode, args: readonly Node[] | null, final: Final): TValue {
    this.#at(field)
    return this.#evalFieldChain(dot, dot, field, field.ident, args, final)
  }

  #evalChainNode (dot: TValue, chain: ChainNode, args: readonly Node[] | null, final: Final): TValue {
    this.#at(chain)
    if (chain.node instanceof NilNode) this.#errorf(`indirection through explicit nil in ${chain.toString()}`)
    const pipe = this.#evalArg(dot, null, chain.node)
    return this.#evalFieldChain(dot, pipe, chain, chain.field, args, final)
  }

  #evalVariableNode (dot: TValue, variable: VariableNode, args: readonly Node[] | null, final: Final): TValue {
    this.#at(variable)
    const value = this.#varValue(variable.ident[0] ?? '')
    if (variable.ident.length === 1) {
      this.#notAFunction(args ?? [], final)
      return value
    }
    return this.#evalFieldChain(dot, value, variable, variable.ident.slice(1), args, final)
  }

  #evalFieldChain (dot: TValue, receiver: TValue, node: Node, ident: readonly string[], args: readonly Node[] | null, final: Final): TValue {
    const n = ident.length
    let r = receiver
    for (let i = 0; i < n - 1; i++) r = this.#evalField(dot, ident[i] ?? '', node, null, MISSING, r)
    return this.#evalField(dot, ident[n - 1] ?? '', node, args, final, r)
  }

  #evalFunction (dot: TValue, node: IdentifierNode, cmd: Node, args: readonly Node[] | null, final: Final): TValue {
    this.#at(node)
    const name = node.ident
    const fn = BUILTINS.get(name)
    if (fn === undefined) this.#errorf(`${JSON.stringify(name)} is not a defined function`)
    return this.#evalCall(dot, null, name, fn.sig, true, cmd, args, final)
  }

  #evalField (dot: TValue, fieldName: string, node: Node, args: readonly Node[] | null, final: Final, receiver: TValue): TValue {
    if (receiver === NO_VALUE) return NO_VALUE
    if (receiver === null) this.#errorf(`nil pointer evaluating interface {}.${fieldName}`)
    if (isObject(receiver)) {
      const params = methodParams(receiver, fieldName)
      if (params !== null) {
        const sig: Signature = { params: params.map(toParamType), variadic: false }
        return this.#evalCall(dot, receiver, fieldName, sig, false, node, args, final)
      }
      const hasArgs = (args !== null && args.length > 1) || final !== MISSING
      const isMap = receiver instanceof GoStringMap
      let v: GoValue
      try {
        v = receiver.goLookup(fieldName, [])
      } catch (err) {
        if (err instanceof GoExecError && !(err instanceof GoTemplateExecError)) this.#errorf(err.message)
        throw err
      }
      if (hasArgs) this.#errorf(isMap ? `${fieldName} is not a method but has arguments` : `${fieldName} has arguments but cannot be invoked as function`)
      return v
    }
    this.#errorf(`can't evaluate field ${fieldName} in type ${typeName(receiver)}`)
  }

  /** exec.go evalCall, for a builtin (receiver null) or a method of `receiver`. */
  #evalCall (dot: TValue, receiver: GoObject | null, name: string, sig: Signature, isBuiltin: boolean, node: Node, argNodes: readonly Node[] | null, final: Final): TValue {
    const args = argNodes === null ? [] : argNodes.slice(1)
    const numIn = args.length + (final !== MISSING ? 1 : 0)
    let numFixed = args.length
    if (sig.variadic) {
      numFixed = sig.params.length - 1
      if (numIn < numFixed) this.#errorf(`wrong number of args for ${name}: want at least ${numFixed} got ${args.length}`)
    } else if (numIn !== sig.params.length) {
      this.#errorf(`wrong number of args for ${name}: want ${sig.params.length} got ${numIn}`)
    }
    if (isBuiltin && (name === 'and' || name === 'or')) {
      let v: TValue = NO_VALUE
      for (const arg of args) {
        v = this.#evalArg(dot, T_VALUE, arg)
        if (truth(v) === (name === 'or')) return v
      }
      if (final !== MISSING) v = final
      return v
    }
    const argv: TValue[] = []
    let i = 0
    for (; i < numFixed && i < args.length; i++) argv.push(this.#evalArg(dot, sig.params[i] ?? T_ANY, args[i] ?? args[0] ?? node))
    if (sig.variadic) {
      const t = sig.params[sig.params.length - 1] ?? T_ANY
      for (; i < args.length; i++) argv.push(this.#evalArg(dot, t, args[i] ?? node))
    }
    if (final !== MISSING) {
      const t = sig.variadic && numIn - 1 >= numFixed ? sig.params[sig.params.length - 1] : sig.params[numIn - 1]
      argv.push(this.#validateType(final, t ?? T_ANY))
    }
    if (isBuiltin && name === 'call') {
      const callee = args.length === 0 ? formatValue(plainValue(final === MISSING ? NO_VALUE : final)) : (args[0]?.toString() ?? '')
      const fn = argv[0]
      this.#at(node)
      if (fn === undefined || fn === NO_VALUE || fn === null) this.#errorf(`error calling call: call of nil`)
      this.#errorf(`error calling call: non-function ${callee} of type ${typeName(fn)}`)
    }
    try {
      if (receiver !== null) return receiver.goLookup(name, argv.map(plainValue))
      const b = BUILTINS.get(name)
      if (b === undefined) this.#errorf(`${JSON.stringify(name)} is not a defined function`)
      return b.fn(argv)
    } catch (err) {
      if (err instanceof FuncError || (err instanceof GoExecError && !(err instanceof GoTemplateExecError))) {
        this.#at(node)
        this.#errorf(`error calling ${name}: ${err.message}`)
      }
      throw err
    }
  }

  /** exec.go validateType, for the parameter types builtins and methods here have. */
  #validateType (value: TValue, typ: string | null): TValue {
    if (value === NO_VALUE) {
      if (typ === null || typ === T_ANY || typ === T_VALUE) return NO_VALUE
      this.#errorf(`invalid value; expected ${typ}`)
    }
    if (typ === T_STRING && typeof value !== 'string') this.#errorf(`wrong type for value; expected string; got ${typeName(value)}`)
    if (typ === T_INT && typeof value !== 'bigint') this.#errorf(`wrong type for value; expected int; got ${typeName(value)}`)
    return value
  }

  #evalArg (dot: TValue, typ: string | null, n: Node): TValue {
    this.#at(n)
    if (n instanceof DotNode) return this.#validateType(dot, typ)
    if (n instanceof NilNode) {
      if (typ === T_ANY || typ === T_VALUE) return NO_VALUE
      this.#errorf(`cannot assign nil to ${typ ?? 'interface {}'}`)
    }
    if (n instanceof FieldNode) return this.#validateType(this.#evalFieldNode(dot, n, [n], MISSING), typ)
    if (n instanceof VariableNode) return this.#validateType(this.#evalVariableNode(dot, n, null, MISSING), typ)
    if (n instanceof PipeNode) return this.#validateType(this.#evalPipeline(dot, n), typ)
    if (n instanceof IdentifierNode) return this.#validateType(this.#evalFunction(dot, n, n, null, MISSING), typ)
    if (n instanceof ChainNode) return this.#validateType(this.#evalChainNode(dot, n, null, MISSING), typ)
    switch (typ) {
      case T_STRING:
        if (n instanceof StringNode) return n.text
        this.#errorf(`expected string; found ${n.toString()}`)
        break
      case T_INT:
        if (n instanceof NumberNode && n.isInt) return n.int64
        this.#errorf(`expected integer; found ${n.toString()}`)
        break
      case null: case T_ANY: case T_VALUE:
        return this.#evalEmptyInterface(dot, n)
    }
    this.#errorf(`can't handle ${n.toString()} for arg of type ${typ}`)
  }

  #evalEmptyInterface (dot: TValue, n: Node): TValue {
    this.#at(n)
    if (n instanceof BoolNode) return n.value
    if (n instanceof DotNode) return dot
    if (n instanceof NumberNode) return this.#idealConstant(n)
    if (n instanceof StringNode) return n.text
    this.#errorf(`can't handle assignment of ${n.toString()} to empty interface argument`)
  }

  #printValue (n: Node, v: TValue): void {
    this.#at(n)
    if (v instanceof GoNil && v.isChan) this.#errorf(`can't print ${n.toString()} of type ${v.goType}`)
    this.out += formatTemplateValue(v)
  }
}

function toParamType (t: string): ParamType {
  return t === 'int' ? T_INT : t === 'string' ? T_STRING : T_ANY
}

function plainValue (v: TValue): GoValue { return v }

/** fmtsort: strings by bytes. */
function compareBytes (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** %q of a template name. */
function goQuoteName (name: string): string {
  return JSON.stringify(name)
}
