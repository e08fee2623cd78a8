// A small JSON Schema (2020-12) checker for the keywords our published schemas use: type, const,
// required, properties, items, oneOf, minLength. Independent of the decoders it checks, so a test
// can validate frames against docs/*.schema.json without a schema library. Unknown keywords throw,
// so a schema that grows past this subset fails loudly instead of passing silently.

type Schema = Record<string, unknown>

const KNOWN = new Set(['$schema', '$id', 'title', 'description', 'type', 'const', 'required', 'properties', 'items', 'oneOf', 'minLength'])

function typeOf (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Problems found (empty = valid), each with a JSON path. */
export function checkJsonSchema (schema: Schema, value: unknown, path = '$'): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`schema keyword ${k} not supported by this checker`)
  const problems: string[] = []
  if (typeof schema.type === 'string') {
    const t = typeOf(value)
    const ok = t === schema.type || (schema.type === 'number' && t === 'integer')
    if (!ok) return [`${path}: expected ${schema.type}, got ${t}`]
  }
  if ('const' in schema && value !== schema.const) problems.push(`${path}: expected ${JSON.stringify(schema.const)}`)
  if (typeof schema.minLength === 'number' && typeof value === 'string' && value.length < schema.minLength) problems.push(`${path}: shorter than ${schema.minLength}`)
  if (Array.isArray(schema.oneOf)) {
    const matches = schema.oneOf.filter((s) => isObject(s) && checkJsonSchema(s, value, path).length === 0).length
    if (matches !== 1) problems.push(`${path}: matches ${matches} of oneOf`)
  }
  if (isObject(value)) {
    if (Array.isArray(schema.required)) {
      for (const r of schema.required) if (typeof r === 'string' && !(r in value)) problems.push(`${path}: missing ${r}`)
    }
    if (isObject(schema.properties)) {
      for (const [k, s] of Object.entries(schema.properties)) {
        if (k in value && isObject(s)) problems.push(...checkJsonSchema(s, value[k], `${path}.${k}`))
      }
    }
  }
  if (Array.isArray(value) && isObject(schema.items)) {
    const items = schema.items
    value.forEach((v, i) => { problems.push(...checkJsonSchema(items, v, `${path}[${i}]`)) })
  }
  return problems
}
