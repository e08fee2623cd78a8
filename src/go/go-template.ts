import { CompiledTemplates } from './go-template-exec.ts'
import { BUILTIN_NAMES } from './go-template-funcs.ts'
import { GoTemplateError, parseTemplate } from './go-template-parse.ts'
import type { GoValue } from './go-value.ts'

// Go's text/template, the whole language as Go 1.25 defines it, for the request-log templates
// Knative operators write (config-observability `logging.request-log-template`): actions and
// pipelines, variables (`$x :=`, `$x =`) and their scopes, if / else if / else, range over
// slices, maps (sorted keys) and integers with break / continue, with / else with, define /
// template / block, comments and trim markers, and the builtins (and or not len index slice print
// printf println html js urlquery eq ne lt le gt ge call). One concept per file:
//   go-template-lex.ts     lex.go: items, trim markers, lexing errors
//   go-template-parse.ts   parse.go + node.go: the tree, Go's parse errors, node positions
//   go-template-number.ts  number literals (NumberNode, idealConstant)
//   go-template-exec.ts    exec.go: the walk, variables, Go's execution errors
//   go-template-funcs.ts   funcs.go: the builtins
// Compiled once (at start or on a ConfigMap update) into closures: rendering calls them, with no
// lexing, parsing or tree walking. Checked against Go itself: test/go/golden/ (a Go program renders the
// corpus over the same values; test/go/go-template-golden.test.ts compares byte for byte).

export { GoTemplateError }
export { htmlEscape, jsEscape } from './go-template-funcs.ts'

/** A compiled template. */
export interface GoTemplate {
  /** The text for `data`; throws GoExecError (Go's message) where Go's Execute returns an error. */
  render (data: GoValue): string
}

/** The name Knative gives the template (`template.New("requestLog")`), used in messages. */
const TEMPLATE_NAME = 'requestLog'

/** template.New("requestLog").Parse(source); throws GoTemplateError with Go's message. */
export function compileGoTemplate (source: string): GoTemplate {
  try {
    return new CompiledTemplate(new CompiledTemplates(parseTemplate(TEMPLATE_NAME, source, BUILTIN_NAMES)), TEMPLATE_NAME)
  } catch (err) {
    // The parser and compiler recurse per nesting level; JS's stack ends (about 1,500 nested
    // parentheses or actions) before Go's limits (10,000 parentheses, actions unbounded). Such a
    // template is refused like one Go cannot parse, rather than crashing the start.
    if (err instanceof RangeError) throw new GoTemplateError(`template: ${TEMPLATE_NAME}: nested too deeply for Sluice's template parser`)
    throw err
  }
}

class CompiledTemplate implements GoTemplate {
  readonly #templates: CompiledTemplates
  readonly #name: string

  constructor (templates: CompiledTemplates, name: string) {
    this.#templates = templates
    this.#name = name
  }

  render (data: GoValue): string {
    return this.#templates.execute(this.#name, data)
  }
}
