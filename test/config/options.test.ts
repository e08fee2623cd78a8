// parseOptions: one table per mode drives flags, env, defaults, validation and --help. Every
// problem is reported, one readable line each; flags override env; defaults are parsed like input.
import t from 'tap'
import { boolOf, formatOptionsHelp, intOf, type OptionSpec, parseOptions, strOf } from '../../src/config/options.ts'

const SPECS: OptionSpec[] = [
  { flag: 'port', env: 'PORT', kind: 'int', default: '8012', min: 1, max: 65535, help: 'serving port' },
  { flag: 'ratio', env: '', kind: 'number', min: 0, help: 'a ratio' },
  { flag: 'mode', env: 'MODE', kind: 'string', default: 'a', choices: ['a', 'b'], help: 'mode' },
  { flag: 'verbose', env: 'VERBOSE', kind: 'bool', default: 'false', help: 'more logs' },
  { flag: '', env: 'ONLY_ENV', kind: 'string', help: 'env only' },
  { flag: 'depth', env: '', kind: 'int', max: 10, help: 'depth' },
]

t.test('defaults apply when neither flag nor env is set; keys are the flag, or the env name', async (t) => {
  const p = parseOptions(SPECS, [], {})
  t.same(p.problems, [])
  t.same([...p.values], [['port', 8012], ['ratio', null], ['mode', 'a'], ['verbose', false], ['ONLY_ENV', null], ['depth', null]])
  t.equal(p.help, false)
})

t.test('env is read; a flag overrides env; --name=value and --name value both work', async (t) => {
  const env = { PORT: '9000', MODE: 'b', VERBOSE: 'yes', ONLY_ENV: 'x' }
  t.same([...parseOptions(SPECS, [], env).values].slice(0, 5), [['port', 9000], ['ratio', null], ['mode', 'b'], ['verbose', true], ['ONLY_ENV', 'x']])
  const p = parseOptions(SPECS, ['--port=9100', '--mode', 'a', '--ratio', '0.5'], env)
  t.same(p.problems, [])
  t.equal(intOf(p.values, 'port'), 9100)
  t.equal(strOf(p.values, 'mode'), 'a')
  t.equal(p.values.get('ratio'), 0.5)
})

t.test('booleans: bare flag, --no-flag, and the accepted spellings', async (t) => {
  t.equal(boolOf(parseOptions(SPECS, ['--verbose'], {}).values, 'verbose'), true)
  t.equal(boolOf(parseOptions(SPECS, ['--no-verbose'], { VERBOSE: 'true' }).values, 'verbose'), false)
  for (const [raw, want] of [['1', true], ['TRUE', true], ['', false], ['0', false], ['no', false], ['False', false]] as const) {
    t.equal(boolOf(parseOptions(SPECS, [], { VERBOSE: raw }).values, 'verbose'), want, JSON.stringify(raw))
  }
  t.equal(boolOf(parseOptions(SPECS, ['--verbose='], {}).values, 'verbose'), true, '--verbose= is true')
})

t.test('an empty env var counts as unset, except for strings', async (t) => {
  t.equal(intOf(parseOptions(SPECS, [], { PORT: '' }).values, 'port'), 8012)
  t.equal(parseOptions(SPECS, [], { ONLY_ENV: '' }).values.get('ONLY_ENV'), '')
})

t.test('every problem is reported, one line each, naming the option as the user wrote it', async (t) => {
  const p = parseOptions(SPECS, ['--ratio', '-1', '--depth', '11', '--bogus', '--port'], { PORT: '70000', MODE: 'c', VERBOSE: 'maybe' })
  t.same(p.problems.sort(), [
    'config: --depth must be an integer <= 10, got "11"',
    'config: --port needs a value',
    'config: --ratio must be a number >= 0, got "-1"',
    'config: MODE must be one of a|b, got "c"',
    'config: PORT must be an integer between 1 and 65535, got "70000"',
    'config: VERBOSE must be true or false, got "maybe"',
    'config: unknown flag --bogus (see --help)',
  ].sort())
  t.equal(p.values.get('mode'), null, 'a refused value is null')
})

t.test('a default that does not parse (a mistake in the table) is reported under both names', async (t) => {
  const bad: OptionSpec[] = [{ flag: 'x', env: 'X', kind: 'int', default: 'ten', help: '' }]
  t.same(parseOptions(bad, [], {}).problems, ['config: X (--x) must be an integer, got "ten"'])
})

t.test('an integer option refuses fractions and words; a value may not be another flag', async (t) => {
  t.same(parseOptions(SPECS, ['--port', '1.5'], {}).problems, ['config: --port must be an integer between 1 and 65535, got "1.5"'])
  t.same(parseOptions(SPECS, ['--port', 'abc'], {}).problems, ['config: --port must be an integer between 1 and 65535, got "abc"'])
  t.same(parseOptions(SPECS, ['--port', '--verbose'], {}).problems, ['config: --port needs a value'])
  t.same(parseOptions(SPECS, ['--no-port'], {}).problems, ['config: unknown flag --no-port (see --help)'], '--no- only for booleans')
})

t.test('--help and -h, and positionals', async (t) => {
  const p = parseOptions(SPECS, ['-h', 'extra', '--verbose', 'more'], {})
  t.equal(p.help, true)
  t.same(p.positionals, ['extra', 'more'])
  t.equal(parseOptions(SPECS, ['--help'], {}).help, true)
})

t.test('typed readers fall back when a value is absent or of another type', async (t) => {
  const values = parseOptions(SPECS, [], {}).values
  t.equal(intOf(values, 'ratio', 7), 7)
  t.equal(strOf(values, 'ONLY_ENV', 'd'), 'd')
  t.equal(boolOf(values, 'port', true), true)
})

t.test('help text: one line per option with flag, env var and default', async (t) => {
  const help = formatOptionsHelp(SPECS)
  const lines = help.split('\n')
  t.equal(lines.length, SPECS.length)
  t.match(lines[0], /^ {2}--port <int>, \$PORT +serving port \(default 8012\)$/)
  t.match(lines[3], /--verbose, \$VERBOSE +more logs \(default false\)$/)
  t.match(lines[4], /^ {2}\$ONLY_ENV +env only$/)
})
