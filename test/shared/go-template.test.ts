import t from 'tap'
import { compileGoTemplate, formatFloat, formatValue, GoTemplateError, jsEscape, type GoStruct } from '../../src/shared/go-template.ts'

// Expected strings follow Go's text/template and fmt rules (funcs.go JSEscape, strconv ftoa.go 'g'
// shortest with the fixed exponent threshold 6, fmt's %v of slices and maps).

const render = (src: string, data: GoStruct = {}): string => compileGoTemplate(src).render(data)

t.test('text, fields, niladic methods, literals, trimming, comments', async (t) => {
  const data: GoStruct = { A: { B: 'x', N: 42n, F: 0.5, M: () => 'called' }, S: 'hi' }
  t.equal(render('plain'), 'plain')
  t.equal(render('{{.A.B}}-{{.A.N}}-{{.A.F}}-{{.A.M}}', data), 'x-42-0.5-called')
  t.equal(render('a {{- .S -}} b', data), 'ahib')
  t.equal(render('a {{/* note */}}b'), 'a b')
  t.equal(render('{{"q\\"s"}} {{`raw`}} {{7}} {{1.25}} {{true}}'), 'q"s raw 7 1.25 true')
  t.equal(render('{{.}}', { X: 'y' }), '{y}')
  t.equal(render('{{ "}}" }}'), '}}', 'a closing brace inside a string literal')
})

t.test('functions and pipelines', async (t) => {
  const header = new Map<string, string[]>([['X-B3-Traceid', ['abc']], ['Accept', ['a', 'b']]])
  const data: GoStruct = { H: header, S: 'a b&c', N: 3n }
  t.equal(render('{{index .H "X-B3-Traceid"}}', data), '[abc]', 'a header is a []string')
  t.equal(render('{{index .H "Missing"}}', data), '[]', 'a missing key is a nil slice')
  t.equal(render('{{index .H "Accept" 1}}', data), 'b')
  t.equal(render('{{.S | js}} {{html .S}} {{urlquery .S}}', data), 'a b\\u0026c a b&amp;c a+b%26c')
  t.equal(render('{{len .S}} {{len .H}}', data), '5 2')
  t.equal(render('{{printf "%s=%d %v %q %%" .S .N .N .S}}', data), 'a b&c=3 3 "a b&c" %')
  t.equal(render('{{print .N .N "x" .N}}', data), '3 3x3', 'Sprint spaces only between non-strings')
  t.equal(render('{{println .S .N}}', data), 'a b&c 3\n')
  t.equal(render('{{.H}}', data), 'map[Accept:[a b] X-B3-Traceid:[abc]]')
})

t.test('Go float64 %v (shortest, e+06 from 1e6, e-05 below 1e-4)', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0'], [2, '2'], [1.5, '1.5'], [0.001234567, '0.001234567'], [0.0001, '0.0001'], [0.00001, '1e-05'],
    [0.000012345, '1.2345e-05'], [999999, '999999'], [1e6, '1e+06'], [1234567, '1.234567e+06'], [1e21, '1e+21'],
    [-2.5e-7, '-2.5e-07'], [123456.789, '123456.789'],
  ]
  for (const [f, want] of cases) t.equal(formatFloat(f), want, String(f))
  t.equal(formatValue(null), '<nil>')
  t.equal(formatValue(['a', 'b']), '[a b]')
})

t.test('js escapes as template.JSEscapeString', async (t) => {
  t.equal(jsEscape('a"b\'c<d>&=\\'), 'a\\"b\\\'c\\u003Cd\\u003E\\u0026\\u003D\\\\')
  t.equal(jsEscape('line\nnext\t'), 'line\\u000Anext\\u0009')
  t.equal(jsEscape('héllo ✓'), 'héllo ✓', 'printable unicode stays')
})

t.test('compile errors (a bad template stops the start) and execution errors', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['{{}}', /missing value for command/],
    ['{{.A', /unclosed action/],
    ['{{if .A}}x{{end}}', /"if" is not supported/],
    ['{{range .A}}{{end}}', /"range" is not supported/],
    ['{{nosuch .A}}', /function "nosuch" not defined/],
    ['{{$x := 1}}', /variables are not supported/],
    ['{{.A | }}', /missing command in pipeline/],
    ['{{/* open }}', /unclosed comment/],
    ['{{"x" .A}}', /can't give argument to non-function/],
  ]
  for (const [src, re] of bad) t.throws(() => compileGoTemplate(src), re, src)
  const tpl = compileGoTemplate('{{.Request.Nope}}')
  t.throws(() => tpl.render({ Request: { Method: 'GET' } }), GoTemplateError)
  t.throws(() => compileGoTemplate('{{.S.X}}').render({ S: 'str' }), /can't evaluate field X in type string/)
})
