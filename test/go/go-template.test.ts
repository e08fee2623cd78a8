import t from 'tap'
import { compileGoTemplate, GoTemplateError, htmlEscape, jsEscape } from '../../src/go/go-template.ts'
import { GoExecError, GoRecord, GoStringMap, type GoValue } from '../../src/go/go-value.ts'

// Expected strings follow Go's text/template (lex.go, parse.go, exec.go, funcs.go) and fmt rules,
// over small hand-built values; the comments say which rule decides. Go's own output for the
// request log's values is checked in go-template-golden.test.ts.

const header = new GoStringMap('http.Header', new Map([['Accept', ['a', 'b']], ['X-B3-Traceid', ['abc']]]), true)
const data = new GoRecord('*main.Data', {
  S: 'a b&c',
  N: 3n,
  F: 0.5,
  H: header,
  L: ['x', 'y'],
  R: new GoRecord('*main.Rec', { Name: 'x', Num: 1n }),
  Nil: null,
}, { M: () => 'called' })

const render = (src: string, d: GoValue = data): string => compileGoTemplate(src).render(d)

t.test('text, fields, methods, trimming and comments', async (t) => {
  const cases: Array<[string, string]> = [
    ['plain', 'plain'],
    ['{{.S}}|{{.N}}|{{.F}}|{{.M}}', 'a b&c|3|0.5|called'],
    ['a  {{- .N -}}  b', 'a3b'], // trim markers take all spaces, tabs and newlines
    ['a \n\t{{- .N}} b', 'a3 b'],
    ['{{-3}}', '-3'], // no space after the dash: a negative number, not a trim marker
    ['{{ .N -}}\n\n x', '3x'],
    ['a {{/* note */}}b', 'a b'],
    ['a {{/* }} inside */}} b', 'a  b'], // a comment ends at */, so }} inside is fine
    ['a {{- /* c */ -}} b', 'ab'],
    ['{{ "}}" }}', '}}'],
    ['{{.R}}', '{x 1}'], // a pointer to a struct, dereferenced for printing
    ['{{.R.Name}}', 'x'],
    ['{{.Nil}}', '<nil>'],
    ['{{$.N}} {{$.R.Name}}', '3 x'],
    ['{{(.R).Name}}', 'x'],
    ['{{.N | print}}', '3'],
    ['{{.N | }}', '3'], // Go's parser accepts a trailing pipe
  ]
  for (const [src, want] of cases) t.equal(render(src), want, src)
})

t.test('literals as Go parses them', async (t) => {
  const cases: Array<[string, string]> = [
    ['{{"q\\"s\\x41\\u00e9\\t|"}}', 'q"sAé\t|'],
    ['{{`raw\\n`}}', 'raw\\n'],
    ['{{7}} {{-2}} {{+5}}', '7 -2 5'],
    ['{{0x1F}} {{010}} {{0o17}} {{0b101}} {{1_000}}', '31 8 15 5 1000'], // strconv.ParseInt base 0
    ['{{1.25}} {{1.0}} {{.5}} {{1e3}} {{1e6}} {{2.5e-7}}', '1.25 1 0.5 1000 1e+06 2.5e-07'], // float64, %v
    ["{{'a'}} {{'\\n'}}", '97 10'], // a rune constant is an int
    ['{{true}} {{false}}', 'true false'],
    ['{{printf "%T %T %T %T" 1 1.5 "s" .H}}', 'int float64 string http.Header'],
  ]
  for (const [src, want] of cases) t.equal(render(src), want, src)
})

t.test('functions and pipelines', async (t) => {
  const cases: Array<[string, string]> = [
    ['{{index .H "X-B3-Traceid"}}', '[abc]'], // a header value is a []string
    ['{{index .H "Missing"}}', '[]'], // a missing key is the zero value: a nil []string
    ['{{index .H "Accept" 1}}', 'b'],
    ['{{index .L 0}}', 'x'],
    ['{{index "abc" 1}}', '98'], // a byte
    ['{{.H.Get "accept"}}', 'a'], // Header.Get canonicalises the key
    ['{{.H.Values "Accept"}}', '[a b]'],
    ['{{.H.Accept}}', '[a b]'], // a map key as a field
    ['{{.H.Missing}}', '<no value>'],
    ['{{.H.Missing.X}}', '<no value>'],
    ['{{js .H.Missing}}', '\\u003Cno value\\u003E'], // evalArgs prints an invalid value as <no value>
    ['{{print .H.Missing}}', '<nil>'], // fmt.Sprint of a nil interface
    ['{{.H}}', 'map[Accept:[a b] X-B3-Traceid:[abc]]'],
    ['{{.S | js}} {{html .S}} {{urlquery .S}}', 'a b\\u0026c a b&amp;c a+b%26c'],
    ['{{js .N .N "x" .N}}', '3 3x3'], // several operands: fmt.Sprint
    ['{{len .S}} {{len .H}} {{len .L}} {{len "héllo"}}', '5 2 2 6'], // len of a string counts bytes
    ['{{printf "%s=%d %v %q %%" .S .N .N .S}}', 'a b&c=3 3 "a b&c" %'],
    ['{{printf "%5.1f|%-4d|%x" 3.14159 7 255}}', '  3.1|7   |ff'],
    ['{{printf "%s %d" .N .S}}', '%!s(int=3) %!d(string=a b&c)'],
    ['{{printf "%d"}}', '%!d(MISSING)'],
    ['{{printf "%d" 1 2}}', '1%!(EXTRA int=2)'],
    ['{{printf "%v" .R}}', '&{x 1}'], // fmt sees the pointer: &{...}
    ['{{js .R}}', '{x 1}'], // evalArgs dereferences it first
    ['{{"a" | printf "%s-%s" "b"}}', 'b-a'], // the piped value is the last argument
    ['{{print .N .N "x" .N}}', '3 3x3'], // Sprint: a space only between two non-strings
    ['{{println .S .N}}', 'a b&c 3\n'],
    ['{{printf "%s" (index .H "Accept")}}', '[a b]'],
    ['{{eq .N 3}} {{ne .S "x"}} {{lt 1 2}} {{le 2 2}} {{gt 1.5 2.5}} {{ge "b" "a"}}', 'true true true true false true'],
    ['{{eq .N 1 2 3}}', 'true'],
    ['{{and 1 0 2}} {{or 0 "" "x"}} {{not ""}} {{and 1 2}}', '0 x true 2'],
    ['{{slice "abcdef" 1 3}} {{slice .L 1}}', 'bc [y]'],
  ]
  for (const [src, want] of cases) t.equal(render(src), want, src)
})

t.test('escapers: template.JSEscapeString, HTMLEscapeString, url.QueryEscape', async (t) => {
  t.equal(jsEscape('a"b\'c<d>&=\\'), 'a\\"b\\\'c\\u003Cd\\u003E\\u0026\\u003D\\\\')
  t.equal(jsEscape('line\nnext\t\x01'), 'line\\u000Anext\\u0009\\u0001')
  t.equal(jsEscape('del\x7f'), 'del\x7f', 'DEL is not special to JSEscape')
  t.equal(jsEscape('héllo ✓ 😀'), 'héllo ✓ 😀', 'printable runes stay')
  t.equal(jsEscape('nb\u00a0sp\u2028\u200b'), 'nb\\u00A0sp\\u2028\\u200B', 'non-printable runes as \\uXXXX, upper-case hex')
  t.equal(htmlEscape('<a href=\'x\'>&"</a>\0'), '&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;\uFFFD')
  t.equal(render('{{urlquery "a b/c?d=é~_.-"}}'), 'a+b%2Fc%3Fd%3D%C3%A9~_.-')
})

t.test('parse errors: what Go rejects when the template is parsed', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['{{}}', /template: requestLog:1: missing value for command/],
    ['{{ }}', /missing value for command/],
    ['{{.A', /unclosed action/],
    ['a\n{{.A', /template: requestLog:2: unclosed action/],
    ['{{nosuch .A}}', /function "nosuch" not defined/],
    ['{{if .A}}x', /template: requestLog:1: unexpected EOF/],
    ['{{range .A}}{{else}}{{else}}{{end}}', /expected end; found \{\{else\}\}/],
    ['{{with}}{{end}}', /missing value for with/],
    ['{{$x, $y := 1}}', /too many declarations in command/],
    ['{{break}}', /\{\{break\}\} outside \{\{range\}\}/],
    ['{{$x}}', /undefined variable "\$x"/],
    ['{{.A | 1}}', /non executable command in pipeline stage 2/],
    ['{{.A | "x"}}', /non executable command in pipeline stage 2/],
    ['{{(1}}', /unclosed left paren/],
    ['{{1)}}', /unexpected right paren/],
    ['{{"abc}}', /unterminated quoted string/],
    ['{{`abc}}', /unterminated raw quoted string/],
    ['{{3.x}}', /bad number syntax: "3.x"/],
    ['{{08}}', /integer overflow: "08"/],
    ['{{.A@}}', /bad character U\+0040 '@'/],
    ['{{@}}', /unexpected "@" in command/],
    ['{{/* open }}', /unclosed comment/],
    ['{{/* c */ }}', /comment ends before closing delimiter/],
    ['{{"a\\q"}}', /invalid syntax/],
    ['{{1.5.A}}', /unexpected \. after term "1.5"/],
    ['{{"x".A}}', /unexpected \. after term/],
  ]
  for (const [src, re] of bad) {
    t.throws(() => compileGoTemplate(src), GoTemplateError, src)
    t.throws(() => compileGoTemplate(src), re, src)
  }
})

t.test('nesting deeper than the JS stack allows is refused at parse time, as a template error (not a crash)', async (t) => {
  const parens = `{{${'('.repeat(5000)}1${')'.repeat(5000)}}}`
  t.throws(() => compileGoTemplate(parens), new GoTemplateError('template: requestLog: nested too deeply for Sluice\'s template parser'))
  const ifs = `${'{{if true}}'.repeat(5000)}x${'{{end}}'.repeat(5000)}`
  t.throws(() => compileGoTemplate(ifs), GoTemplateError)
  t.equal(render(`{{${'('.repeat(200)}1${')'.repeat(200)}}}`), '1', '200 levels are fine')
})

t.test('a render that exhausts the stack is an execution error, never a RangeError out of render', async (t) => {
  const nested = compileGoTemplate(`${'{{with 1}}'.repeat(1200)}x${'{{end}}'.repeat(1200)}`)
  const outcomes = new Set<string>()
  // Render from ever deeper call stacks until the render itself runs out of stack.
  const renderAt = (depth: number): void => {
    if (depth > 0) { renderAt(depth - 1); return }
    try {
      outcomes.add(nested.render(null))
    } catch (err) {
      outcomes.add(err instanceof GoExecError ? err.message : `escaped: ${String(err)}`)
    }
  }
  for (let depth = 0; depth < 20_000; depth += 200) {
    try { renderAt(depth) } catch { break } // the test's own recursion hit the limit
  }
  t.ok(outcomes.has('x'), 'renders from a shallow stack')
  t.ok(outcomes.has('template: requestLog: nested too deeply to render'), 'an execution error from a deep one')
  t.same([...outcomes].filter((o) => o.startsWith('escaped')), [], 'nothing else escapes')
})

t.test('execution errors: Go parses these and fails when run', async (t) => {
  const failing = [
    '{{.Nope}}', '{{.R.Nope}}', '{{.S.X}}', '{{.Nil.X}}', '{{"x" .N}}', '{{.N | .S}}', '{{nil}}',
    '{{len 3}}', '{{len}}', '{{index .L 5}}', '{{index .N 0}}', '{{printf 3}}', '{{.R.Name 1}}',
    '{{eq .N "3"}}', '{{lt true false}}', '{{call .S}}', '{{.M 1}}',
  ]
  for (const src of failing) {
    const tpl = compileGoTemplate(src)
    t.throws(() => tpl.render(data), GoExecError, src)
  }
})
