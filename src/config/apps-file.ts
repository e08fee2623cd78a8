// The `--config FILE` of `sluice up` and `sluice autoscaler` (YAML or JSON): which apps to run
// locally and the autoscaler's `config-autoscaler` keys. Parsed and checked once at start; every
// problem is reported, one line each, naming the field.
//
//   autoscaler:                       # Knative config-autoscaler keys, as strings or numbers
//     stable-window: 60s
//     scale-to-zero-grace-period: 30s
//   apps:
//     - name: hello                   # revision name (DNS-1123 label)
//       namespace: default            # optional
//       command: ["node", "server.js"]  # argv, or one string run with /bin/sh -c
//       port: 8080                    # optional: the app's fixed port (then at most 1 pod);
//                                     #   without it the app must listen on $PORT
//       env: { GREETING: hi }
//       cwd: ./app                    # relative to the config file
//       containerConcurrency: 1       # 0 = unlimited (Knative's default)
//       minScale: 0                   # the autoscaling.knative.dev/* annotations, camelCased:
//       maxScale: 10                  #   minScale maxScale initialScale target
//       target: 1                     #   targetUtilizationPercentage metric window
//       hosts: [hello.local]          #   panicWindowPercentage panicThresholdPercentage
//       timeoutSeconds: 300           #   targetBurstCapacity activationScale scaleDownDelay
//       readinessProbe: { httpGet: { path: /healthz } }   # scaleToZeroPodRetentionPeriod
//       annotations: { autoscaling.knative.dev/metric-aggregation-algorithm: weighted-exponential }

import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { isRecord } from '../shared/is-record.ts'

export interface AppDefinition {
  readonly namespace: string
  readonly name: string
  /** argv; a string command becomes ['/bin/sh', '-c', command]. */
  readonly command: readonly string[]
  /** The app's fixed port, or null when it reads $PORT. */
  readonly port: number | null
  readonly env: Readonly<Record<string, string>>
  /** Absolute, or null for the current directory. */
  readonly cwd: string | null
  readonly containerConcurrency: number
  readonly hosts: readonly string[]
  readonly timeoutSeconds: number | null
  /** Kubernetes probe JSON for the sidecar (SERVING_READINESS_PROBE), '' = TCP on the port. */
  readonly readinessProbe: string
  /** autoscaling.knative.dev/* annotations (from the camelCase keys and `annotations`). */
  readonly annotations: Readonly<Record<string, string>>
}

export interface AppsFile {
  /** config-autoscaler keys, values as strings. */
  readonly autoscaler: Readonly<Record<string, string>>
  readonly apps: readonly AppDefinition[]
}

export type AppsFileResult =
  | { readonly file: AppsFile, readonly problems: null }
  | { readonly file: null, readonly problems: readonly string[] }

const G = 'autoscaling.knative.dev'
/** camelCase app keys -> annotation names. */
const ANNOTATION_KEYS: Readonly<Record<string, string>> = Object.freeze({
  minScale: `${G}/min-scale`,
  maxScale: `${G}/max-scale`,
  initialScale: `${G}/initial-scale`,
  target: `${G}/target`,
  targetUtilizationPercentage: `${G}/target-utilization-percentage`,
  metric: `${G}/metric`,
  window: `${G}/window`,
  panicWindowPercentage: `${G}/panic-window-percentage`,
  panicThresholdPercentage: `${G}/panic-threshold-percentage`,
  targetBurstCapacity: `${G}/target-burst-capacity`,
  activationScale: `${G}/activation-scale`,
  scaleDownDelay: `${G}/scale-down-delay`,
  scaleToZeroPodRetentionPeriod: `${G}/scale-to-zero-pod-retention-period`,
})
const APP_KEYS = new Set(['name', 'namespace', 'command', 'port', 'env', 'cwd', 'containerConcurrency', 'hosts', 'timeoutSeconds', 'readinessProbe', 'annotations', ...Object.keys(ANNOTATION_KEYS)])
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const MAX_APPS = 100

function scalar (v: unknown): string | null {
  if (typeof v === 'string') return v
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  if (typeof v === 'boolean') return String(v)
  return null
}

function intIn (v: unknown, min: number, max: number): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : null
}

function parseApp (raw: unknown, where: string, baseDir: string, problems: string[]): AppDefinition | null {
  if (!isRecord(raw)) { problems.push(`${where}: expected an object`); return null }
  const before = problems.length
  for (const k of Object.keys(raw)) if (!APP_KEYS.has(k)) problems.push(`${where}.${k}: unknown key`)
  const name = raw.name
  if (typeof name !== 'string' || !DNS1123_LABEL.test(name)) problems.push(`${where}.name: must be a DNS-1123 label (a-z, 0-9, -), got ${JSON.stringify(name)}`)
  const namespace = raw.namespace ?? 'default'
  if (typeof namespace !== 'string' || !DNS1123_LABEL.test(namespace)) problems.push(`${where}.namespace: must be a DNS-1123 label, got ${JSON.stringify(namespace)}`)

  let command: string[] = []
  if (typeof raw.command === 'string' && raw.command.trim() !== '') command = ['/bin/sh', '-c', raw.command]
  else if (Array.isArray(raw.command) && raw.command.length > 0 && raw.command.every((c) => typeof c === 'string') && raw.command[0] !== '') command = raw.command.map(String)
  else problems.push(`${where}.command: required, a non-empty string or list of strings`)

  const port = raw.port === undefined || raw.port === null ? null : intIn(raw.port, 1, 65535)
  if (raw.port !== undefined && raw.port !== null && port === null) problems.push(`${where}.port: must be an integer in [1, 65535], got ${JSON.stringify(raw.port)}`)

  const env: Record<string, string> = {}
  if (raw.env !== undefined && raw.env !== null) {
    if (!isRecord(raw.env)) problems.push(`${where}.env: expected a map of names to values`)
    else {
      for (const [k, v] of Object.entries(raw.env)) {
        const s = scalar(v)
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) problems.push(`${where}.env.${k}: not a valid variable name`)
        else if (s === null) problems.push(`${where}.env.${k}: must be a string, number or boolean`)
        else env[k] = s
      }
    }
  }
  let cwd: string | null = null
  if (raw.cwd !== undefined && raw.cwd !== null) {
    if (typeof raw.cwd !== 'string' || raw.cwd === '') problems.push(`${where}.cwd: must be a path`)
    else cwd = resolve(baseDir, raw.cwd)
  }
  const cc = raw.containerConcurrency === undefined ? 0 : intIn(raw.containerConcurrency, 0, 1000)
  if (cc === null) problems.push(`${where}.containerConcurrency: must be an integer in [0, 1000], got ${JSON.stringify(raw.containerConcurrency)}`)

  const hosts: string[] = []
  if (raw.hosts !== undefined && raw.hosts !== null) {
    if (!Array.isArray(raw.hosts) || !raw.hosts.every((h) => typeof h === 'string' && h !== '')) problems.push(`${where}.hosts: expected a list of host names`)
    else hosts.push(...raw.hosts.map(String))
  }
  const timeoutSeconds = raw.timeoutSeconds === undefined || raw.timeoutSeconds === null ? null : intIn(raw.timeoutSeconds, 1, 3600)
  if (raw.timeoutSeconds !== undefined && raw.timeoutSeconds !== null && timeoutSeconds === null) problems.push(`${where}.timeoutSeconds: must be an integer in [1, 3600]`)

  let readinessProbe = ''
  if (raw.readinessProbe !== undefined && raw.readinessProbe !== null) {
    if (isRecord(raw.readinessProbe)) readinessProbe = JSON.stringify(raw.readinessProbe)
    else problems.push(`${where}.readinessProbe: expected a Kubernetes probe object`)
  }

  const annotations: Record<string, string> = {}
  for (const [key, annotation] of Object.entries(ANNOTATION_KEYS)) {
    if (raw[key] === undefined || raw[key] === null) continue
    const s = scalar(raw[key])
    if (s === null) problems.push(`${where}.${key}: must be a string or number`)
    else annotations[annotation] = s
  }
  if (raw.annotations !== undefined && raw.annotations !== null) {
    if (!isRecord(raw.annotations)) problems.push(`${where}.annotations: expected a map`)
    else {
      for (const [k, v] of Object.entries(raw.annotations)) {
        const s = scalar(v)
        if (s === null) problems.push(`${where}.annotations.${k}: must be a string or number`)
        else annotations[k] = s
      }
    }
  }
  if (port !== null && annotations[`${G}/max-scale`] !== '1') {
    // A fixed port fits one pod per machine.
    if (annotations[`${G}/max-scale`] !== undefined) problems.push(`${where}.maxScale: must be 1 with a fixed port (the app cannot listen on $PORT)`)
    annotations[`${G}/max-scale`] = '1'
  }
  if (problems.length > before || typeof name !== 'string' || typeof namespace !== 'string' || cc === null) return null
  return Object.freeze({
    namespace, name, command: Object.freeze(command), port, env: Object.freeze(env), cwd, containerConcurrency: cc,
    hosts: Object.freeze(hosts), timeoutSeconds, readinessProbe, annotations: Object.freeze(annotations),
  })
}

/** Parses the text of an apps file (YAML is a superset of JSON). `path` names it in problems and anchors `cwd`. */
export function parseAppsFile (text: string, path: string): AppsFileResult {
  const problems: string[] = []
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    return { file: null, problems: [`${path}: not valid YAML/JSON: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`] }
  }
  if (!isRecord(doc)) return { file: null, problems: [`${path}: expected a map with "apps" (and optionally "autoscaler")`] }
  for (const k of Object.keys(doc)) if (k !== 'apps' && k !== 'autoscaler') problems.push(`${path}: ${k}: unknown key (expected apps, autoscaler)`)
  const autoscaler: Record<string, string> = {}
  if (doc.autoscaler !== undefined && doc.autoscaler !== null) {
    if (!isRecord(doc.autoscaler)) problems.push(`${path}: autoscaler: expected a map of config-autoscaler keys`)
    else {
      for (const [k, v] of Object.entries(doc.autoscaler)) {
        const s = scalar(v)
        if (s === null) problems.push(`${path}: autoscaler.${k}: must be a string, number or boolean`)
        else autoscaler[k] = s
      }
    }
  }
  const apps: AppDefinition[] = []
  if (!Array.isArray(doc.apps) || doc.apps.length === 0) problems.push(`${path}: apps: required, a non-empty list`)
  else if (doc.apps.length > MAX_APPS) problems.push(`${path}: apps: at most ${MAX_APPS}`)
  else {
    const baseDir = dirname(resolve(path))
    const seen = new Set<string>()
    doc.apps.forEach((raw: unknown, i: number) => {
      const app = parseApp(raw, `${path}: apps[${i}]`, baseDir, problems)
      if (app === null) return
      const key = `${app.namespace}/${app.name}`
      if (seen.has(key)) problems.push(`${path}: apps[${i}]: ${key} defined twice`)
      seen.add(key)
      apps.push(app)
    })
  }
  if (problems.length > 0) return { file: null, problems }
  return { file: Object.freeze({ autoscaler: Object.freeze(autoscaler), apps: Object.freeze(apps) }), problems: null }
}

export function readAppsFile (path: string): AppsFileResult {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    return { file: null, problems: [`config: cannot read --config ${JSON.stringify(path)}: ${err instanceof Error ? err.message : String(err)}`] }
  }
  return parseAppsFile(text, path)
}
