// The `--revisions FILE` format: YAML (JSON is YAML too) with one top-level `revisions:` list.
//
//   revisions:
//     - name: hello-00001
//       namespace: default          # optional, default "default"
//       containerConcurrency: 2     # optional, 0 = unlimited
//       endpoints: ["127.0.0.1:8013", "[::1]:8014"]   # optional, [] = scaled to zero
//       notReadyEndpoints: ["127.0.0.1:8015"]  # optional: used once the activator's probe passes
//       hosts: [hello.local]        # optional
//       timeoutSeconds: 300         # optional, default: the activator's --activation-timeout
//       responseStartTimeoutSeconds: 0  # optional: to the first response byte (0 = off)
//       idleTimeoutSeconds: 0       # optional: between response writes (0 = off)
//       lbPolicy: round-robin       # optional: random-choice-2 | first-available | round-robin
//
// Problems are one line each, prefixed by the file name, so the CLI can print them and exit 2.

import { parseDocument } from 'yaml'
import type { RevisionSpec } from '../revision-spec.ts'
import { revisionKey } from '../revision-spec.ts'
import { isRecord } from '../../shared/is-record.ts'
import { describe, parseRevisionSpec } from './revision-validation.ts'

/** Revisions one file may hold; a bound like every list we keep. */
export const MAX_FILE_REVISIONS = 10_000

export type ParseRevisionsFileResult = { specs: RevisionSpec[] } | { problems: string[] }

/** Parses and validates the whole file; `file` only labels the problems. Never throws. */
export function parseRevisionsFile (text: string, file: string): ParseRevisionsFileResult {
  // uniqueKeys: a repeated key is an error, not a silent last-one-wins.
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false })
  if (doc.errors.length > 0) {
    return { problems: doc.errors.map((e) => `${file}: invalid YAML/JSON: ${firstLine(e.message)}`) }
  }
  let value: unknown
  try {
    value = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    // e.g. an alias bomb or an alias to nothing.
    const message = err instanceof Error ? err.message : String(err)
    return { problems: [`${file}: invalid YAML/JSON: ${firstLine(message)}`] }
  }

  if (!isRecord(value)) {
    return { problems: [`${file}: expected a mapping with a top-level "revisions:" list, got ${describe(value)}`] }
  }
  const problems: string[] = []
  for (const key of Object.keys(value)) {
    if (key !== 'revisions') problems.push(`${file}: ${key}: unknown top-level field (expected "revisions")`)
  }
  const list = value.revisions
  if (list === undefined) {
    problems.push(`${file}: revisions: required (a list; [] for none)`)
    return { problems }
  }
  if (!Array.isArray(list)) {
    problems.push(`${file}: revisions: expected a list, got ${describe(list)}`)
    return { problems }
  }
  if (list.length > MAX_FILE_REVISIONS) {
    problems.push(`${file}: revisions: at most ${MAX_FILE_REVISIONS} revisions, got ${list.length}`)
    return { problems }
  }

  const specs: RevisionSpec[] = []
  const keys = new Map<string, number>()
  const hosts = new Map<string, string>()
  for (let i = 0; i < list.length; i++) {
    const where = `revisions[${i}]`
    const result = parseRevisionSpec(list[i], where)
    if ('problems' in result) {
      for (const p of result.problems) problems.push(`${file}: ${p}`)
      continue
    }
    const spec = result.spec
    const key = revisionKey(spec.namespace, spec.name)
    const first = keys.get(key)
    if (first !== undefined) {
      problems.push(`${file}: ${where}: revision ${key} is already defined by revisions[${first}]`)
      continue
    }
    keys.set(key, i)
    for (let h = 0; h < spec.hosts.length; h++) {
      const owner = hosts.get(spec.hosts[h])
      if (owner !== undefined) problems.push(`${file}: ${where}.hosts[${h}]: ${JSON.stringify(spec.hosts[h])} is already routed to ${owner}`)
      else hosts.set(spec.hosts[h], key)
    }
    specs.push(spec)
  }
  return problems.length > 0 ? { problems } : { specs }
}

function firstLine (message: string): string {
  const nl = message.indexOf('\n')
  return (nl < 0 ? message : message.slice(0, nl)).trim()
}
