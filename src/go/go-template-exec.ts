import { formatTemplateValue, formatValue } from './go-fmt.ts'
import { BUILTINS, FuncError, isTrue, truth, typeName, type Builtin, type TValue, T_ANY, T_INT, T_STRING, T_VALUE } from './go-template-funcs.ts'
import {
  ActionNode, BoolNode, BreakNode, ChainNode, type CommandNode, CommentNode, ContinueNode, DotNode, FieldNode, IdentifierNode,
  IfNode, ListNode, NilNode, type Node, NumberNode, PipeNode, RangeNode, StringNode, TemplateNode, TextNode, type TreeSet,
  VariableNode, WithNode,
} from './go-template-parse.ts'
import { GoExecError, GoNil, GoStringMap, isStringSlice, NO_ARGS, NO_VALUE, type GoObject } from './go-value.ts'

// text/template exec.go, compiled: each node of the parse tree becomes a closure once, when the
// template is compiled, and rendering calls them (no tree walk, no type tests on nodes). Each
// closure does what Go's state.walk / evalPipeline / evalCommand / evalArg does for its node, in
// Go's order, with Go's variable scopes (a declaration lives until the {{end}} of the enclosing
// control; range resets per iteration; {{template}} sees only `$`), and sets `s.node` where Go
// calls s.at(), so an execution error names the node Go names:
// `template: requestLog:1:11: executing "requestLog" at <.Response.Nope>: can't evaluate field Nope
// in type *http.RequestLogResponse`.

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

/** Renders a node into s.out. */
type Render = (s: ExecState, dot: TValue) => void
/** A pipeline or argument's value. */
type Eval = (s: ExecState, dot: TValue) => TValue
/** A command: `final` is the value piped in. */
type Cmd = (s: ExecState, dot: TValue, final: Final) => TValue
/** An argument evaluated for a parameter type (exec.go evalArg): literals take the type. */
type ArgEval = (s: ExecState, dot: TValue, typ: string | null) => TValue

/** The compiled templates of one Parse: name -> render. */
export class CompiledTemplates {
  readonly renders = new Map<string, Render>()

  constructor (trees: TreeSet) {
    for (const [name, root] of trees) this.renders.set(name, compileList(root))
  }

  /** template.Execute: the output, or GoTemplateExecError with Go's message. */
  execute (name: string, data: TValue): string {
    const s = new ExecState(this, name, data)
    const render = this.renders.get(name)
    if (render === undefined) return s.errorf(`${JSON.stringify(name)} is an incomplete or empty template`)
    try {
      render(s, data)
    } catch (err) {
      // Deep nesting the parser took may still exhaust the stack of a request's call: an
      // execution error (the request log's fallback line), never an exception out of the proxy.
      // Built without further calls: the stack is nearly exhausted here too.
      if (err instanceof RangeError) throw new GoTemplateExecError(`template: ${name}: nested too deeply to render`)
      throw err
    }
    return s.out
  }
}

/** Per-render state (exec.go state). Fields set in the constructor, one shape. */
export class ExecState {
  readonly templates: CompiledTemplates
  tmplName: string
  node: Node | null
  /** `$`: Go keeps it at the bottom of the variable stack; here it needs no allocation per render. */
  dollar: TValue
  /** The variables declared above `$`, innermost last. */
  vars: Variable[]
  depth: number
  out: string

  constructor (templates: CompiledTemplates, name: string, data: TValue) {
    this.templates = templates
    this.tmplName = name
    this.node = null
    this.dollar = data
    this.vars = []
    this.depth = 0
    this.out = ''
  }

  errorf (message: string): never {
    const n = this.node
    if (n === null) throw new GoTemplateExecError(`template: ${this.tmplName}: ${message}`)
    throw new GoTemplateExecError(`template: ${n.src.location(n.pos)}: executing ${JSON.stringify(this.tmplName)} at <${n.toString()}>: ${message}`)
  }

  setVar (name: string, value: TValue): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const v = this.vars[i]
      if (v !== undefined && v.name === name) { v.value = value; return }
    }
    if (name === '$') { this.dollar = value; return }
    this.errorf(`undefined variable: ${name}`)
  }

  setTopVar (n: number, value: TValue): void {
    const v = this.vars[this.vars.length - n]
    if (v !== undefined) v.value = value
  }

  varValue (name: string): TValue {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const v = this.vars[i]
      if (v !== undefined && v.name === name) return v.value
    }
    if (name === '$') return this.dollar
    this.errorf(`undefined variable: ${name}`)
  }
}

// --- nodes (exec.go walk) ---

function compileList (list: ListNode): Render {
  const renders = list.nodes.map(compileNode)
  const only = renders[0]
  if (renders.length === 1 && only !== undefined) return only
  return (s, dot) => {
    for (let i = 0; i < renders.length; i++) (renders[i] ?? noop)(s, dot)
  }
}

function noop (): void {}

function compileNode (node: Node): Render {
  if (node instanceof TextNode) {
    const text = node.text
    return (s) => { s.out += text }
  }
  if (node instanceof ActionNode) {
    const cmd = node.pipe.cmds[0]
    const field = cmd?.args[0]
    if (node.pipe.cmds.length === 1 && node.pipe.decl.length === 0 && cmd?.args.length === 1 && field instanceof FieldNode) {
      // The common action, `{{.Request.Method}}`: Go's at(action), at(pipe), at(field) leave
      // s.node on the field, and only printing moves it back.
      const ident = field.ident
      return (s, dot) => {
        s.node = field
        printValue(s, node, evalFieldChain(s, dot, dot, field, ident, NO_ARG_EVALS, NO_NODES, MISSING))
      }
    }
    const pipe = compilePipeline(node.pipe)
    const prints = node.pipe.decl.length === 0
    return (s, dot) => {
      s.node = node
      const v = pipe(s, dot)
      if (prints) printValue(s, node, v)
    }
  }
  if (node instanceof ListNode) return compileList(node)
  if (node instanceof IfNode || node instanceof WithNode) {
    const isWith = node instanceof WithNode
    const pipe = compilePipeline(node.pipe)
    const list = compileList(node.list)
    const elseList = node.elseList === null ? null : compileList(node.elseList)
    return (s, dot) => {
      s.node = node
      // Variables the pipeline or the body declare end here. On an error or a break the render
      // (or the range) unwinds the stack itself, so only the normal path pops.
      const mark = s.vars.length
      const val = pipe(s, dot)
      const [t, ok] = isTrue(val)
      if (!ok) s.errorf(`if/with can't use ${formatValue(val)}`)
      if (t) list(s, isWith ? val : dot)
      else if (elseList !== null) elseList(s, dot)
      s.vars.length = mark
    }
  }
  if (node instanceof RangeNode) return compileRange(node)
  if (node instanceof TemplateNode) return compileTemplate(node)
  if (node instanceof BreakNode) return () => { throw WALK_BREAK }
  if (node instanceof ContinueNode) return () => { throw WALK_CONTINUE }
  if (node instanceof CommentNode) return noop
  return (s) => { s.node = node; s.errorf(`unknown node: ${node.toString()}`) }
}

function printValue (s: ExecState, n: Node, v: TValue): void {
  s.node = n
  if (v instanceof GoNil && v.isChan) s.errorf(`can't print ${n.toString()} of type ${v.goType}`)
  s.out += formatTemplateValue(v)
}

function compileRange (r: RangeNode): Render {
  const pipe = compilePipeline(r.pipe)
  const list = compileList(r.list)
  const elseList = r.elseList === null ? null : compileList(r.elseList)
  const decl = r.pipe.decl
  const isAssign = r.pipe.isAssign
  const first = decl[0]?.ident[0] ?? ''
  const second = decl[1]?.ident[0] ?? ''
  const one = (s: ExecState, mark: number, index: TValue, elem: TValue): void => {
    if (decl.length > 0) {
      if (isAssign) s.setVar(first, decl.length > 1 ? index : elem)
      else s.setTopVar(1, elem)
    }
    if (decl.length > 1) {
      if (isAssign) s.setVar(second, elem)
      else s.setTopVar(2, index)
    }
    try {
      list(s, elem)
    } catch (err) {
      if (err !== WALK_CONTINUE) throw err
    }
    s.vars.length = mark
  }
  return (s, dot) => {
    s.node = r
    const outer = s.vars.length
    try {
      const val = pipe(s, dot)
      const mark = s.vars.length
      let ran = false
      if (typeof val === 'bigint') {
        if (decl.length > 1) s.errorf(`can't use ${val} to iterate over more than one variable`)
        for (let i = 0n; i < val; i++) { ran = true; one(s, mark, NO_VALUE, i) }
      } else if (isStringSlice(val)) {
        for (let i = 0; i < val.length; i++) { ran = true; one(s, mark, BigInt(i), val[i] ?? '') }
      } else if (val instanceof GoStringMap) {
        // fmtsort: string keys in byte order.
        const keys = [...val.entries.keys()].sort(compareBytes)
        for (const k of keys) { ran = true; one(s, mark, k, val.entries.get(k) ?? []) }
      } else if (val !== NO_VALUE) {
        // Go indirects val first: a pointer to a struct prints `{...}`, no `&`.
        s.errorf(`range can't iterate over ${formatTemplateValue(val)}`)
      }
      if (!ran && elseList !== null) elseList(s, dot)
    } catch (err) {
      if (err !== WALK_BREAK) throw err
    }
    s.vars.length = outer
  }
}

function compileTemplate (t: TemplateNode): Render {
  const pipe = t.pipe === null ? null : compilePipeline(t.pipe)
  const name = t.name
  return (s, dot) => {
    s.node = t
    const render = s.templates.renders.get(name)
    if (render === undefined) return s.errorf(`template ${JSON.stringify(name)} not defined`)
    if (s.depth === MAX_EXEC_DEPTH) s.errorf(`exceeded maximum template depth (${MAX_EXEC_DEPTH})`)
    const newDot = pipe === null ? NO_VALUE : pipe(s, dot)
    const savedName = s.tmplName
    const savedVars = s.vars
    const savedDollar = s.dollar
    s.depth++
    s.tmplName = name
    s.vars = []
    s.dollar = newDot
    try {
      render(s, newDot)
    } catch (err) {
      // Go stops at depth 100000; JS's stack ends first. Unbounded depth only comes from a
      // template calling itself, so a stack overflow here is that error.
      if (!(err instanceof RangeError)) throw err
      s.tmplName = savedName
      s.vars = savedVars
      s.dollar = savedDollar
      s.node = t
      s.errorf(`exceeded maximum template depth (${MAX_EXEC_DEPTH})`)
    }
    s.depth--
    s.tmplName = savedName
    s.vars = savedVars
    s.dollar = savedDollar
  }
}

// --- pipelines and commands (exec.go evalPipeline, evalCommand) ---

function compilePipeline (pipe: PipeNode): Eval {
  const cmds = pipe.cmds.map((c, i) => compileCommand(c, i > 0))
  const names = pipe.decl.map((v) => v.ident[0] ?? '')
  const isAssign = pipe.isAssign
  const only = cmds[0]
  if (cmds.length === 1 && names.length === 0 && only !== undefined) {
    return (s, dot) => {
      s.node = pipe
      return only(s, dot, MISSING)
    }
  }
  return (s, dot) => {
    s.node = pipe
    let value: Final = MISSING
    for (let i = 0; i < cmds.length; i++) value = (cmds[i] ?? missingCmd)(s, dot, value)
    const v: TValue = value === MISSING ? NO_VALUE : value
    for (const name of names) {
      if (isAssign) s.setVar(name, v)
      else s.vars.push({ name, value: v })
    }
    return v
  }
}

function missingCmd (): TValue { return NO_VALUE }

function notAFunction (s: ExecState, head: Node, nargs: number, final: Final): void {
  if (nargs > 1 || final !== MISSING) s.errorf(`can't give argument to non-function ${head.toString()}`)
}

/** `hasFinal`: the command follows a `|`, so a value is piped into it. */
function compileCommand (cmd: CommandNode, hasFinal: boolean): Cmd {
  const first = cmd.args[0]
  const nargs = cmd.args.length
  const argEvals = cmd.args.slice(1).map(compileArg)
  const argNodes = cmd.args.slice(1)
  if (first instanceof FieldNode) {
    const ident = first.ident
    return (s, dot, final) => {
      s.node = first
      return evalFieldChain(s, dot, dot, first, ident, argEvals, argNodes, final)
    }
  }
  if (first instanceof ChainNode) return compileChain(first, argEvals, argNodes)
  if (first instanceof IdentifierNode) return compileFunction(first, cmd, argEvals, argNodes, hasFinal)
  if (first instanceof PipeNode) {
    const inner = compilePipeline(first)
    return (s, dot, final) => {
      notAFunction(s, first, nargs, final)
      return inner(s, dot)
    }
  }
  if (first instanceof VariableNode) return compileVariable(first, argEvals, argNodes, nargs)
  if (first === undefined) return (s) => s.errorf('empty command')
  const literal = literalCmd(first)
  return (s, dot, final) => {
    s.node = first
    notAFunction(s, first, nargs, final)
    return literal(s, dot)
  }
}

/** A command that is a literal, `.` or nil: its value (nil is an error). */
function literalCmd (first: Node): Eval {
  if (first instanceof BoolNode) { const v = first.value; return () => v }
  if (first instanceof DotNode) return (_s, dot) => dot
  if (first instanceof NilNode) return (s) => s.errorf('nil is not a command')
  if (first instanceof NumberNode) return (s) => idealConstant(s, first)
  if (first instanceof StringNode) { const v = first.text; return () => v }
  return (s) => s.errorf(`can't evaluate command ${JSON.stringify(first.toString())}`)
}

function idealConstant (s: ExecState, n: NumberNode): TValue {
  s.node = n
  if (n.ideal === null) s.errorf(`${n.text} overflows int`)
  return n.ideal
}

function compileChain (chain: ChainNode, argEvals: readonly ArgEval[], argNodes: readonly Node[]): Cmd {
  const isNil = chain.node instanceof NilNode
  const recv = compileArg(chain.node)
  const fields = chain.field
  return (s, dot, final) => {
    s.node = chain
    if (isNil) s.errorf(`indirection through explicit nil in ${chain.toString()}`)
    const r = recv(s, dot, null)
    return evalFieldChain(s, dot, r, chain, fields, argEvals, argNodes, final)
  }
}

function compileVariable (v: VariableNode, argEvals: readonly ArgEval[], argNodes: readonly Node[], nargs: number): Cmd {
  const name = v.ident[0] ?? ''
  const fields = v.ident.slice(1)
  if (fields.length === 0) {
    return (s, _dot, final) => {
      s.node = v
      const value = s.varValue(name)
      notAFunction(s, v, nargs, final)
      return value
    }
  }
  return (s, dot, final) => {
    s.node = v
    return evalFieldChain(s, dot, s.varValue(name), v, fields, argEvals, argNodes, final)
  }
}

function compileFunction (node: IdentifierNode, cmd: Node, argEvals: readonly ArgEval[], argNodes: readonly Node[], hasFinal: boolean): Cmd {
  const builtin = BUILTINS.get(node.ident)
  const name = node.ident
  if (builtin === undefined) return (s) => { s.node = node; return s.errorf(`${JSON.stringify(name)} is not a defined function`) }
  const { params, variadic } = builtin.sig
  // Whether a piped value comes in is known here (a command after `|`), so the arity check and
  // each argument's parameter type are settled once; the error itself is raised when run, as Go.
  const nargs = argEvals.length
  const numIn = nargs + (hasFinal ? 1 : 0)
  const numFixed = variadic ? params.length - 1 : nargs
  let arityError: string | null = null
  if (variadic && numIn < numFixed) arityError = `wrong number of args for ${name}: want at least ${numFixed} got ${nargs}`
  else if (!variadic && numIn !== params.length) arityError = `wrong number of args for ${name}: want ${params.length} got ${numIn}`
  if (arityError !== null) {
    const message = arityError
    return (s) => { s.node = node; return s.errorf(message) }
  }
  if (name === 'and' || name === 'or' || name === 'call') {
    return (s, dot, final) => {
      s.node = node
      return evalCall(s, dot, null, builtin, name, params, variadic, cmd, argEvals, argNodes, final)
    }
  }
  const types: string[] = []
  for (let i = 0; i < nargs; i++) types.push((i < numFixed ? params[i] : params[params.length - 1]) ?? T_ANY)
  const finalType = (variadic && numIn - 1 >= numFixed ? params[params.length - 1] : params[numIn - 1]) ?? T_ANY
  const fn = builtin.fn
  const a0 = argEvals[0]
  const t0 = types[0] ?? T_ANY
  if (nargs === 1 && !hasFinal && a0 !== undefined) {
    return (s, dot) => {
      s.node = node
      return callBuiltin(s, fn, name, cmd, [a0(s, dot, t0)])
    }
  }
  return (s, dot, final) => {
    s.node = node
    const argv: TValue[] = []
    for (let i = 0; i < nargs; i++) argv.push((argEvals[i] ?? noArg)(s, dot, types[i] ?? T_ANY))
    if (final !== MISSING) argv.push(validateType(s, final, finalType))
    return callBuiltin(s, fn, name, cmd, argv)
  }
}

/** A builtin's error is Go's `error calling <name>: ...`, at the command. */
function callBuiltin (s: ExecState, fn: Builtin['fn'], name: string, node: Node, argv: readonly TValue[]): TValue {
  try {
    return fn(argv)
  } catch (err) {
    if (err instanceof FuncError || (err instanceof GoExecError && !(err instanceof GoTemplateExecError))) {
      s.node = node
      s.errorf(`error calling ${name}: ${err.message}`)
    }
    throw err
  }
}

// --- fields and calls (exec.go evalFieldChain, evalField, evalCall) ---

const NO_ARG_EVALS: readonly ArgEval[] = []
const NO_NODES: readonly Node[] = []

function evalFieldChain (s: ExecState, dot: TValue, receiver: TValue, node: Node, ident: readonly string[], argEvals: readonly ArgEval[], argNodes: readonly Node[], final: Final): TValue {
  const n = ident.length
  let r = receiver
  for (let i = 0; i < n - 1; i++) r = evalField(s, dot, ident[i] ?? '', node, NO_ARG_EVALS, NO_NODES, MISSING, r)
  return evalField(s, dot, ident[n - 1] ?? '', node, argEvals, argNodes, final, r)
}

function isObject (v: TValue): v is GoObject {
  return typeof v === 'object' && v !== null && !isStringSlice(v)
}

function evalField (s: ExecState, dot: TValue, fieldName: string, node: Node, argEvals: readonly ArgEval[], argNodes: readonly Node[], final: Final, receiver: TValue): TValue {
  if (receiver === NO_VALUE) return NO_VALUE
  if (receiver === null) s.errorf(`nil pointer evaluating interface {}.${fieldName}`)
  if (!isObject(receiver)) s.errorf(`can't evaluate field ${fieldName} in type ${typeName(receiver)}`)
  const params = receiver.goParams === undefined ? null : receiver.goParams(fieldName)
  if (params !== null) return evalCall(s, dot, receiver, null, fieldName, params, false, node, argEvals, argNodes, final)
  let v: TValue
  try {
    v = receiver.goLookup(fieldName, NO_ARGS)
  } catch (err) {
    if (err instanceof GoExecError && !(err instanceof GoTemplateExecError)) s.errorf(err.message)
    throw err
  }
  if (argEvals.length > 0 || final !== MISSING) {
    s.errorf(receiver instanceof GoStringMap ? `${fieldName} is not a method but has arguments` : `${fieldName} has arguments but cannot be invoked as function`)
  }
  return v
}

/** exec.go evalCall, for a builtin or a method of `receiver` (params: Go's parameter types). */
function evalCall (s: ExecState, dot: TValue, receiver: GoObject | null, builtin: Builtin | null, name: string, params: readonly string[], variadic: boolean,
  node: Node, argEvals: readonly ArgEval[], argNodes: readonly Node[], final: Final): TValue {
  const nargs = argEvals.length
  const numIn = nargs + (final !== MISSING ? 1 : 0)
  let numFixed = nargs
  if (variadic) {
    numFixed = params.length - 1
    if (numIn < numFixed) s.errorf(`wrong number of args for ${name}: want at least ${numFixed} got ${nargs}`)
  } else if (numIn !== params.length) {
    s.errorf(`wrong number of args for ${name}: want ${params.length} got ${numIn}`)
  }
  if (builtin !== null && (name === 'and' || name === 'or')) {
    // Go 1.18+: arguments are evaluated only until the result is known.
    const isOr = name === 'or'
    let v: TValue = NO_VALUE
    for (let i = 0; i < nargs; i++) {
      v = (argEvals[i] ?? noArg)(s, dot, T_VALUE)
      if (truth(v) === isOr) return v
    }
    return final !== MISSING ? final : v
  }
  const argv: TValue[] = []
  let i = 0
  for (; i < numFixed && i < nargs; i++) argv.push((argEvals[i] ?? noArg)(s, dot, params[i] ?? T_ANY))
  if (variadic) {
    const t = params[params.length - 1] ?? T_ANY
    for (; i < nargs; i++) argv.push((argEvals[i] ?? noArg)(s, dot, t))
  }
  if (final !== MISSING) {
    const t = variadic && numIn - 1 >= numFixed ? params[params.length - 1] : params[numIn - 1]
    argv.push(validateType(s, final, t ?? T_ANY))
  }
  if (builtin !== null && name === 'call') {
    const callee = nargs === 0 ? formatValue(final === MISSING ? NO_VALUE : final) : (argNodes[0]?.toString() ?? '')
    const fn = argv[0]
    s.node = node
    if (fn === undefined || fn === NO_VALUE || fn === null) s.errorf('error calling call: call of nil')
    s.errorf(`error calling call: non-function ${callee} of type ${typeName(fn)}`)
  }
  try {
    if (receiver !== null) return receiver.goLookup(name, argv)
    if (builtin === null) return NO_VALUE
    return builtin.fn(argv)
  } catch (err) {
    if (err instanceof FuncError || (err instanceof GoExecError && !(err instanceof GoTemplateExecError))) {
      s.node = node
      s.errorf(`error calling ${name}: ${err.message}`)
    }
    throw err
  }
}

function noArg (): TValue { return NO_VALUE }

/** exec.go validateType, for the parameter types builtins and methods here have. */
function validateType (s: ExecState, value: TValue, typ: string | null): TValue {
  if (value === NO_VALUE) {
    if (typ === null || typ === T_ANY || typ === T_VALUE) return NO_VALUE
    s.errorf(`invalid value; expected ${typ}`)
  }
  if (typ === T_STRING && typeof value !== 'string') s.errorf(`wrong type for value; expected string; got ${typeName(value)}`)
  if (typ === T_INT && typeof value !== 'bigint') s.errorf(`wrong type for value; expected int; got ${typeName(value)}`)
  return value
}

/** exec.go evalArg: a node as an argument of type `typ` (null: untyped, the head of a chain). */
function compileArg (n: Node): ArgEval {
  if (n instanceof DotNode) return (s, dot, typ) => { s.node = n; return validateType(s, dot, typ) }
  if (n instanceof NilNode) {
    return (s, _dot, typ) => {
      s.node = n
      if (typ === T_ANY || typ === T_VALUE) return NO_VALUE
      return s.errorf(`cannot assign nil to ${typ ?? 'interface {}'}`)
    }
  }
  if (n instanceof FieldNode) {
    const ident = n.ident
    return (s, dot, typ) => {
      s.node = n
      return validateType(s, evalFieldChain(s, dot, dot, n, ident, NO_ARG_EVALS, NO_NODES, MISSING), typ)
    }
  }
  if (n instanceof VariableNode) {
    const cmd = compileVariable(n, NO_ARG_EVALS, NO_NODES, 0)
    return (s, dot, typ) => { s.node = n; return validateType(s, cmd(s, dot, MISSING), typ) }
  }
  if (n instanceof PipeNode) {
    const pipe = compilePipeline(n)
    return (s, dot, typ) => { s.node = n; return validateType(s, pipe(s, dot), typ) }
  }
  if (n instanceof IdentifierNode) {
    const fn = compileFunction(n, n, NO_ARG_EVALS, NO_NODES, false)
    return (s, dot, typ) => { s.node = n; return validateType(s, fn(s, dot, MISSING), typ) }
  }
  if (n instanceof ChainNode) {
    const chain = compileChain(n, NO_ARG_EVALS, NO_NODES)
    return (s, dot, typ) => { s.node = n; return validateType(s, chain(s, dot, MISSING), typ) }
  }
  return (s, dot, typ) => {
    s.node = n
    switch (typ) {
      case T_STRING:
        if (n instanceof StringNode) return n.text
        return s.errorf(`expected string; found ${n.toString()}`)
      case T_INT:
        if (n instanceof NumberNode && n.isInt) return n.int64
        return s.errorf(`expected integer; found ${n.toString()}`)
      case null: case T_ANY: case T_VALUE:
        return evalEmptyInterface(s, dot, n)
    }
    return s.errorf(`can't handle ${n.toString()} for arg of type ${typ}`)
  }
}

function evalEmptyInterface (s: ExecState, dot: TValue, n: Node): TValue {
  s.node = n
  if (n instanceof BoolNode) return n.value
  if (n instanceof DotNode) return dot
  if (n instanceof NumberNode) return idealConstant(s, n)
  if (n instanceof StringNode) return n.text
  return s.errorf(`can't handle assignment of ${n.toString()} to empty interface argument`)
}

/** fmtsort: strings by bytes. */
function compareBytes (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
