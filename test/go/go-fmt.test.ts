import t from 'tap'
import { formatFloat, formatTemplateValue, quote, sprint, sprintf, sprintln } from '../../src/go/go-fmt.ts'
import { GoRecord, GoStringMap, NO_VALUE, type GoValue } from '../../src/go/go-value.ts'

// Expected strings from Go's fmt and strconv rules (print.go, format.go, ftoa.go, quote.go).

t.test('float64 %v: strconv \'g\' shortest, exponent when < -4 or >= 6 (two exponent digits at least)', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0'], [-0, '-0'], [2, '2'], [1.5, '1.5'], [0.1, '0.1'], [0.001234567, '0.001234567'], [0.0001, '0.0001'],
    [0.00001, '1e-05'], [0.000012345, '1.2345e-05'], [4.25e-5, '4.25e-05'], [999999, '999999'], [1e6, '1e+06'],
    [1234567, '1.234567e+06'], [123456.789, '123456.789'], [1e21, '1e+21'], [-2.5e-7, '-2.5e-07'], [1e100, '1e+100'],
    [5e-324, '5e-324'], [Infinity, '+Inf'], [-Infinity, '-Inf'], [NaN, 'NaN'],
  ]
  for (const [f, want] of cases) t.equal(formatFloat(f), want, String(f))
})

t.test('Sprintf verbs, flags, width and precision', async (t) => {
  const cases: Array<[string, GoValue[], string]> = [
    ['%s %d %v %q %f', ['a', 3n, 1.5, 'x"y', 0.1], 'a 3 1.5 "x\\"y" 0.100000'],
    // Exact decimal value, ties to even: 0.0625 -> 0.062, 2.5 -> 2 (JS toFixed would round up).
    ['%.3f %.0f %.0f %.0f %.2f %.1f', [0.0625, 0.5, 1.5, 2.5, 0.125, 0.05], '0.062 0 2 2 0.12 0.1'],
    ['%e %E %.2e %g %.3g %g %G', [123456.789, 0.000123, 1.005, 1e21, 1234567, 100000, 1e-7], '1.234568e+05 1.230000E-04 1.00e+00 1e+21 1.23e+06 100000 1E-07'],
    ['%5d|%-5d|%05d|%+d|% d|%x|%X|%#x|%o|%O|%b|%c|%q|%U', [42n, 42n, -42n, 42n, 42n, 255n, 255n, 255n, 8n, 8n, 5n, 65n, 65n, 0x1F600n],
      '   42|42   |-0042|+42| 42|ff|FF|0xff|10|0o10|101|A|\'A\'|U+1F600'],
    // biome-ignore lint/suspicious/noApproximativeNumericConstant: an input of five digits, not pi: the widths and rounding are the point
    ['%.3d|%8.3f|%-8.3f|%08.3f|%+.1e', [7n, 3.14159, 3.14159, -3.14159, 12345.678], '007|   3.142|3.142   |-003.142|+1.2e+04'],
    ['%5s|%-5s|%.2s|%x|% x|%X', ['ab', 'ab', 'abc', 'hi', 'hi', 'é'], '   ab|ab   |ab|6869|68 69|C3A9'],
    ['%*d|%-*d', [4n, 7n, 3n, 7n], '   7|7  '],
    ['%v %v %s %q %d', [['a', 'b'], null, ['a', 'b'], ['a', 'b'], ['a']], '[a b] <nil> [a b] ["a" "b"] [%!d(string=a)]'],
    ['%t %v %d', [true, false, true], 'true false %!d(bool=true)'],
    ['%s %d %f', [3n, 'a', 2n], '%!s(int=3) %!d(string=a) %!f(int=2)'],
    ['%s|%d', [null, NO_VALUE], '%!s(<nil>)|%!d(<nil>)'],
    ['%d %d', [1n], '1 %!d(MISSING)'],
    ['%d', [1n, 'x', null], '1%!(EXTRA string=x, <nil>)'],
    ['100%% %', [], '100% %!(NOVERB)'],
    ['%z', [1n], '%!z(int=1)'],
  ]
  for (const [format, args, want] of cases) t.equal(sprintf(format, args), want, format)
})

t.test('Sprint, Sprintln, maps, structs, Stringers', async (t) => {
  t.equal(sprint([1n, 2n, 'a', 3n, 'b', 'c', 1.5, true]), '1 2a3bc1.5 true', 'a space only between two non-strings')
  t.equal(sprintln(['a', 1n, 'b']), 'a 1 b\n')
  const h = new GoStringMap('http.Header', new Map([['B', ['2']], ['A', ['1', 'x']]]), true)
  t.equal(sprint([h]), 'map[A:[1 x] B:[2]]', 'keys sorted')
  t.equal(sprintf('%q', [h]), 'map["A":["1" "x"] "B":["2"]]', 'the verb applies to keys and values')
  const rec = new GoRecord('*main.T', { A: 'x', B: 2n, C: 0.25, D: null })
  t.equal(sprint([rec]), '&{x 2 0.25 <nil>}', 'a pointer to a struct at depth 0')
  t.equal(formatTemplateValue(rec), '{x 2 0.25 <nil>}', 'templates print the struct the pointer points to')
  t.equal(formatTemplateValue(NO_VALUE), '<no value>')
  t.equal(formatTemplateValue(['a']), '[a]')
})

t.test('strconv.Quote', async (t) => {
  t.equal(quote('a\x00\x07\n\u00a0é\u2028😀\x7f"\\'), '"a\\x00\\a\\n\\u00a0é\\u2028😀\\x7f\\"\\\\"')
  t.equal(quote('é😀', true), '"\\u00e9\\U0001f600"', 'ASCII only (%+q)')
  t.equal(sprintf('%#q %#q', ['a"b', 'a`b']), '`a"b` "a`b"', '%#q backquotes when it can')
})
