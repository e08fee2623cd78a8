// A typed table of options, each readable from a flag and/or an env var. One table per mode
// drives parsing, validation and `--help`, so a name is declared exactly once.
// Flags override env; defaults live in the table. Every problem is collected (not just the
// first) so an operator fixes them all in one go.

export type OptionKind = 'int' | 'number' | 'string' | 'bool'

export interface OptionSpec {
  /** Long flag without dashes, e.g. `admin-port`. Empty: env only. */
  flag: string
  /** Env var name, e.g. `USER_PORT`. Empty: flag only. */
  env: string
  kind: OptionKind
  /** Default as a string, parsed like user input; undefined = no default (value is null). */
  default?: string
  min?: number
  max?: number
  /** Allowed string values. */
  choices?: readonly string[]
  help: string
}

export type OptionValue = number | string | boolean | null

export interface ParsedOptions {
  values: Map<string, OptionValue>
  positionals: string[]
  problems: string[]
  help: boolean
}

/** What each mode's load*Config returns: the config when there is no problem, else null and every problem. */
export interface ConfigResult<T> {
  config: T | null
  problems: string[]
  help: boolean
}

function describe (spec: OptionSpec): string {
  if (spec.env !== '' && spec.flag !== '') return `${spec.env} (--${spec.flag})`
  return spec.env !== '' ? spec.env : `--${spec.flag}`
}

function parseValue (spec: OptionSpec, raw: string, source: string, problems: string[]): OptionValue {
  const name = source
  switch (spec.kind) {
    case 'bool': {
      const v = raw.trim().toLowerCase()
      if (v === 'true' || v === '1' || v === 'yes' || v === '') return true
      if (v === 'false' || v === '0' || v === 'no') return false
      problems.push(`config: ${name} must be true or false, got ${JSON.stringify(raw)}`)
      return null
    }
    case 'int':
    case 'number': {
      const trimmed = raw.trim()
      const n = trimmed === '' ? Number.NaN : Number(trimmed)
      const bounds = spec.min !== undefined && spec.max !== undefined
        ? ` between ${spec.min} and ${spec.max}`
        : spec.min !== undefined ? ` >= ${spec.min}` : spec.max !== undefined ? ` <= ${spec.max}` : ''
      const what = spec.kind === 'int' ? 'an integer' : 'a number'
      if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n)) ||
          (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        problems.push(`config: ${name} must be ${what}${bounds}, got ${JSON.stringify(raw)}`)
        return null
      }
      return n
    }
    case 'string': {
      if (spec.choices !== undefined && !spec.choices.includes(raw)) {
        problems.push(`config: ${name} must be one of ${spec.choices.join('|')}, got ${JSON.stringify(raw)}`)
        return null
      }
      return raw
    }
  }
}

/**
 * Parses `argv` (after the mode) and `env` against `specs`. Unknown flags are problems.
 * Keys of `values` are the spec's flag, or its env name when it has no flag.
 */
export function parseOptions (specs: readonly OptionSpec[], argv: readonly string[], env: NodeJS.ProcessEnv): ParsedOptions {
  const problems: string[] = []
  const values = new Map<string, OptionValue>()
  const positionals: string[] = []
  const byFlag = new Map<string, OptionSpec>()
  for (const spec of specs) if (spec.flag !== '') byFlag.set(spec.flag, spec)

  const fromFlags = new Map<string, string>()
  let help = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    if (arg === '--help' || arg === '-h') { help = true; continue }
    if (!arg.startsWith('--')) { positionals.push(arg); continue }
    const eq = arg.indexOf('=')
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    let inline: string | null = eq === -1 ? null : arg.slice(eq + 1)
    let spec = byFlag.get(name)
    if (spec === undefined && name.startsWith('no-')) {
      const negated = byFlag.get(name.slice(3))
      if (negated !== undefined && negated.kind === 'bool' && inline === null) {
        spec = negated
        name = negated.flag
        inline = 'false'
      }
    }
    if (spec === undefined) { problems.push(`config: unknown flag --${name} (see --help)`); continue }
    if (inline === null) {
      if (spec.kind === 'bool') inline = 'true'
      else {
        const next = argv[i + 1]
        if (next === undefined || next.startsWith('--')) { problems.push(`config: --${name} needs a value`); continue }
        inline = next
        i++
      }
    }
    fromFlags.set(spec.flag, inline)
  }

  for (const spec of specs) {
    const key = spec.flag !== '' ? spec.flag : spec.env
    const flagRaw = spec.flag !== '' ? fromFlags.get(spec.flag) : undefined
    const envRaw = spec.env !== '' ? env[spec.env] : undefined
    let value: OptionValue = null
    if (flagRaw !== undefined) value = parseValue(spec, flagRaw, `--${spec.flag}`, problems)
    else if (envRaw !== undefined && !(envRaw === '' && spec.kind !== 'string')) value = parseValue(spec, envRaw, spec.env, problems)
    else if (spec.default !== undefined) value = parseValue(spec, spec.default, describe(spec), problems)
    values.set(key, value)
  }
  return { values, positionals, problems, help }
}

/** `--help` text: one line per option. */
export function formatOptionsHelp (specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const left = [s.flag !== '' ? `--${s.flag}${s.kind === 'bool' ? '' : ' <' + s.kind + '>'}` : '', s.env !== '' ? `$${s.env}` : '']
      .filter((x) => x !== '').join(', ')
    const def = s.default !== undefined && s.default !== '' ? ` (default ${s.default})` : ''
    return [left, s.help + def]
  })
  const width = Math.min(48, Math.max(...rows.map((r) => (r[0] ?? '').length)) + 2)
  return rows.map(([l = "", r = ""]) => `  ${l.length + 2 > width ? l + "\n" + " ".repeat(width + 2) : l.padEnd(width)}${r}`).join("\n")
}

/** Typed readers for a parsed map; a null read where a default exists means a reported problem. */
export function intOf (values: Map<string, OptionValue>, key: string, fallback = 0): number {
  const v = values.get(key)
  return typeof v === 'number' ? v : fallback
}
export function strOf (values: Map<string, OptionValue>, key: string, fallback = ''): string {
  const v = values.get(key)
  return typeof v === 'string' ? v : fallback
}
export function boolOf (values: Map<string, OptionValue>, key: string, fallback = false): boolean {
  const v = values.get(key)
  return typeof v === 'boolean' ? v : fallback
}
