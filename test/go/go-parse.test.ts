// Go value syntax as strconv and time.ParseDuration accept it.
import t from 'tap'
import { isWholeSeconds, nsToMs, parseGoBool, parseGoDurationNs, parseGoFloat, parseGoInt32 } from '../../src/go/go-parse.ts'

t.test('ParseBool', async (t) => {
  for (const s of ['1', 't', 'T', 'TRUE', 'true', 'True']) t.equal(parseGoBool(s), true, s)
  for (const s of ['0', 'f', 'F', 'FALSE', 'false', 'False']) t.equal(parseGoBool(s), false, s)
  for (const s of ['', 'yes', 'tRUE', ' true', 'on']) t.equal(parseGoBool(s), null, JSON.stringify(s))
})

t.test('ParseInt(s, 10, 32)', async (t) => {
  const rows: Array<[string, number | null]> = [
    ['0', 0], ['-0', 0], ['+7', 7], ['-12', -12], ['2147483647', 2147483647], ['-2147483648', -2147483648],
    ['2147483648', null], ['1.0', null], ['1e3', null], ['', null], [' 1', null], ['1_000', null], ['0x10', null],
  ]
  for (const [s, want] of rows) t.equal(parseGoInt32(s), want, JSON.stringify(s))
  t.ok(Object.is(parseGoInt32('-0'), 0), 'no negative zero')
})

t.test('ParseFloat(s, 64)', async (t) => {
  const rows: Array<[string, number | null]> = [
    ['1', 1], ['1.5', 1.5], ['.5', 0.5], ['5.', 5], ['-3.25', -3.25], ['+2', 2], ['1e3', 1000], ['1E-2', 0.01],
    ['Inf', Infinity], ['-infinity', -Infinity], ['+INF', Infinity],
    ['NaN', null], ['', null], ['.', null], ['1.2.3', null], ['abc', null], [' 1', null], ['1e400', null],
  ]
  for (const [s, want] of rows) t.equal(parseGoFloat(s), want, JSON.stringify(s))
})

t.test('ParseDuration', async (t) => {
  const rows: Array<[string, bigint | null]> = [
    ['0', 0n], ['-0', 0n], ['0s', 0n], ['1s', 1_000_000_000n], ['1.5s', 1_500_000_000n], ['300ms', 300_000_000n],
    ['1m30s', 90_000_000_000n], ['2m3s', 123_000_000_000n], ['1h', 3_600_000_000_000n], ['-1m23s', -83_000_000_000n],
    ['1h1s', 3_601_000_000_000n], ['10us', 10_000n], ['10\u00b5s', 10_000n], ['10\u03bcs', 10_000n], ['7ns', 7n],
    ['.5s', 500_000_000n], ['1.s', 1_000_000_000n], ['+5m', 300_000_000_000n], ['2562047h', 9_223_369_200_000_000_000n],
    ['', null], ['1', null], ['s', null], ['.s', null], ['1x', null], ['1 s', null], ['not a duration', null],
    ['-', null], ['1s-1s', null], ['2562048h', null],
  ]
  for (const [s, want] of rows) t.equal(parseGoDurationNs(s), want, JSON.stringify(s))
})

t.test('duration helpers', async (t) => {
  t.equal(nsToMs(1_500_000_000n), 1500)
  t.equal(nsToMs(250_000n), 0.25)
  t.equal(isWholeSeconds(61_000_000_000n), true)
  t.equal(isWholeSeconds(61_984_000_000n), false)
  t.equal(isWholeSeconds(-2_000_000_000n), true)
})
