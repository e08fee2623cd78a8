// A kubeconfig file resolved to a KubeRestConfig as client-go's clientcmd resolves it for a controller
// given that file (BuildConfigFromFlags("", path), then rest.LoadTLSFiles): current-context, its
// cluster and user, the same validation (client_config.go ConfirmUsable, validation.go), relative
// paths against the file's directory (loader.go ResolveLocalPaths), credentials only for https
// servers. golden/kubeconfig-golden.json holds client-go's own answers for golden/corpus/.
//
// What Sluice cannot do is refused with one line each rather than ignored: auth-provider (gone from
// client-go's own plugins; use the provider's exec plugin), proxy-url, impersonation, exec plugins
// that need a terminal (interactiveMode Always).

import { dirname, isAbsolute, resolve } from 'node:path'
import { ConfigError } from '../shared/errors.ts'
import { EMPTY_REST_CONFIG, messageOf, type KubeExecConfig, type KubeRestConfig } from './kube-config.ts'
import { isRecord } from '../shared/is-record.ts'

/** ExecCredential versions Sluice speaks (client.authentication.k8s.io/v1alpha1 is gone from client-go). */
export const EXEC_API_VERSIONS: readonly string[] = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1']

type Fields = Record<string, unknown>

/** Reads and resolves `path`; every problem is a `kubeconfig: <path>: ...` line of one ConfigError. */
export async function resolveKubeconfigFile (path: string): Promise<KubeRestConfig> {
  const fs = process.getBuiltinModule('node:fs')
  let text: string
  try {
    text = fs.readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError([`kubeconfig: cannot read ${path}: ${messageOf(err)}`])
  }
  // yaml is imported here only: nothing else of the activator's Kubernetes mode needs it.
  const { parse } = await import('yaml')
  let doc: unknown
  try {
    doc = parse(text)
  } catch (err) {
    throw new ConfigError([`kubeconfig: ${path}: not YAML: ${messageOf(err)}`])
  }
  return resolveKubeconfig(doc, path, (file) => fs.readFileSync(file, 'utf8'))
}

/** The parsed document; `readFile` reads the files it references (token, certificates). */
export function resolveKubeconfig (doc: unknown, path: string, readFile: (file: string) => string): KubeRestConfig {
  const problems = new Problems(path)
  const root = doc === null || doc === undefined ? {} : doc
  if (!isRecord(root)) throw new ConfigError([`kubeconfig: ${path}: not a kubeconfig (a YAML mapping)`])
  const dir = dirname(resolve(path))
  const at = (p: string): string => (p === '' || isAbsolute(p) ? p : resolve(dir, p))

  const contexts = namedEntries(root, 'contexts', 'context', problems)
  const clusters = namedEntries(root, 'clusters', 'cluster', problems)
  const users = namedEntries(root, 'users', 'user', problems)
  const contextName = problems.str(root, 'current-context', 'current-context')
  const context = contexts.get(contextName)
  // As client-go: a missing context, or a context naming an unknown user, leaves that part empty;
  // validation below says what is then missing (a cluster with a server, at least).
  if (contextName !== '' && context === undefined) problems.add(`current-context "${contextName}" is not among the contexts`)
  const clusterName = context === undefined ? '' : problems.str(context, 'cluster', `contexts[${contextName}].context.cluster`)
  const userName = context === undefined ? '' : problems.str(context, 'user', `contexts[${contextName}].context.user`)
  const cluster = clusters.get(clusterName) ?? {}
  const user = users.get(userName) ?? {}
  const cw = `clusters[${clusterName}].cluster`
  const uw = `users[${userName}].user`

  // Cluster (validation.go validateClusterInfo).
  const server = problems.str(cluster, 'server', `${cw}.server`)
  const caFile = at(problems.str(cluster, 'certificate-authority', `${cw}.certificate-authority`))
  const caData = problems.base64(cluster, 'certificate-authority-data', `${cw}.certificate-authority-data`)
  const insecure = problems.bool(cluster, 'insecure-skip-tls-verify', `${cw}.insecure-skip-tls-verify`)
  const serverName = problems.str(cluster, 'tls-server-name', `${cw}.tls-server-name`)
  if (contextName !== '' && context === undefined) {
    // Said above; no second line about the cluster of a context that is not there.
  } else if (Object.keys(cluster).length === 0) {
    problems.add(contextName === ''
      ? 'no current-context: set current-context to a context whose cluster has a server'
      : `no cluster "${clusterName}" for context "${contextName}"`)
  } else if (server === '') {
    problems.add(`no server for cluster "${clusterName}"`)
  }
  if (caFile !== '' && caData !== '') problems.add(`cluster "${clusterName}" has both certificate-authority and certificate-authority-data`)
  // Files are read during validation, as client-go opens them there: a missing one fails over http:// too.
  const caFromFile = caFile === '' ? '' : problems.read(readFile, caFile, `certificate-authority of cluster "${clusterName}"`)
  if (cluster['proxy-url'] !== undefined) problems.add(`cluster "${clusterName}": proxy-url is not supported`)

  // User (validation.go validateAuthInfo).
  const token = problems.str(user, 'token', `${uw}.token`)
  const tokenFile = at(problems.str(user, 'tokenFile', `${uw}.tokenFile`))
  const certFile = at(problems.str(user, 'client-certificate', `${uw}.client-certificate`))
  const certData = problems.base64(user, 'client-certificate-data', `${uw}.client-certificate-data`)
  const keyFile = at(problems.str(user, 'client-key', `${uw}.client-key`))
  const keyData = problems.base64(user, 'client-key-data', `${uw}.client-key-data`)
  const username = problems.str(user, 'username', `${uw}.username`)
  const password = problems.str(user, 'password', `${uw}.password`)
  const methods: string[] = []
  if (token !== '') methods.push('token')
  if (username !== '' || password !== '') methods.push('basic auth')
  if (certFile !== '' || certData !== '') {
    if (certFile !== '' && certData !== '') problems.add(`user "${userName}" has both client-certificate and client-certificate-data`)
    if (keyFile !== '' && keyData !== '') problems.add(`user "${userName}" has both client-key and client-key-data`)
    if (keyFile === '' && keyData === '') problems.add(`user "${userName}" has a client certificate but no client-key or client-key-data`)
  }
  const hasCert = certFile !== '' || certData !== ''
  const certFromFile = hasCert && certFile !== '' ? problems.read(readFile, certFile, `client-certificate of user "${userName}"`) : ''
  const keyFromFile = hasCert && keyFile !== '' ? problems.read(readFile, keyFile, `client-key of user "${userName}"`) : ''
  if (methods.length > 1) problems.add(`user "${userName}" has more than one authentication method (${methods.join(', ')}); only one is allowed`)
  if (user['auth-provider'] !== undefined) {
    const provider = isRecord(user['auth-provider']) && typeof user['auth-provider'].name === 'string' ? user['auth-provider'].name : '?'
    problems.add(`user "${userName}": auth-provider "${provider}" is not supported; use the provider's exec plugin (client.authentication.k8s.io exec)`)
  }
  for (const key of ['as', 'as-uid', 'as-groups', 'as-user-extra']) {
    if (user[key] !== undefined) problems.add(`user "${userName}": impersonation (${key}) is not supported`)
  }
  const exec = user.exec === undefined ? null : execConfig(user.exec, userName, `${uw}.exec`, at, problems)
  problems.throwIfAny()

  const host = stripQuery(server)
  if (!/^https?:\/\//i.test(host)) throw new ConfigError([`kubeconfig: ${path}: server "${server}" of cluster "${clusterName}" must start with https:// or http://`])
  // client-go reads credentials and TLS settings only for https servers (client_config.go IsConfigTransportTLS).
  if (!/^https:/i.test(host)) return { ...EMPTY_REST_CONFIG, host }

  let bearerToken = token
  let bearerTokenFile = ''
  if (token !== '') bearerTokenFile = tokenFile
  else if (tokenFile !== '') {
    bearerToken = problems.read(readFile, tokenFile, `tokenFile of user "${userName}"`)
    bearerTokenFile = tokenFile
  }
  const config: KubeRestConfig = {
    host,
    bearerToken,
    bearerTokenFile,
    username,
    password,
    caData: caData !== '' ? caData : caFromFile,
    certData: certData !== '' ? certData : certFromFile,
    keyData: keyData !== '' ? keyData : keyFromFile,
    insecure,
    serverName,
    exec,
  }
  problems.throwIfAny()
  return config
}

function execConfig (raw: unknown, userName: string, where: string, at: (p: string) => string, problems: Problems): KubeExecConfig | null {
  if (!isRecord(raw)) { problems.add(`${where} must be a mapping`); return null }
  const apiVersion = problems.str(raw, 'apiVersion', `${where}.apiVersion`)
  const rawCommand = problems.str(raw, 'command', `${where}.command`)
  // Only a command with a path separator is a file relative to the kubeconfig; else it is looked up on PATH.
  const command = rawCommand.includes('/') ? at(rawCommand) : rawCommand
  let interactiveMode = problems.str(raw, 'interactiveMode', `${where}.interactiveMode`)
  // client-go defaults it for v1beta1 only (api/v1/defaults.go); v1 must say.
  if (interactiveMode === '' && apiVersion.endsWith('/v1beta1')) interactiveMode = 'IfAvailable'
  const args: string[] = []
  if (raw.args !== undefined && raw.args !== null) {
    if (Array.isArray(raw.args) && raw.args.every((a) => typeof a === 'string')) args.push(...raw.args)
    else problems.add(`${where}.args must be a list of strings`)
  }
  const env: Array<{ name: string, value: string }> = []
  if (raw.env !== undefined && raw.env !== null) {
    if (!Array.isArray(raw.env)) problems.add(`${where}.env must be a list of {name, value}`)
    else {
      for (const v of raw.env) {
        const name = isRecord(v) ? problems.str(v, 'name', `${where}.env[].name`) : ''
        if (name === '') problems.add(`user "${userName}": every exec env entry needs a name`)
        else env.push({ name, value: isRecord(v) ? problems.str(v, 'value', `${where}.env[${name}].value`) : '' })
      }
    }
  }
  if (command === '') problems.add(`user "${userName}": exec needs a command`)
  if (apiVersion === '') problems.add(`user "${userName}": exec needs an apiVersion`)
  else if (!EXEC_API_VERSIONS.includes(apiVersion)) problems.add(`user "${userName}": exec apiVersion "${apiVersion}" is not supported (${EXEC_API_VERSIONS.join(' or ')})`)
  if (interactiveMode === '') problems.add(`user "${userName}": exec needs an interactiveMode (Never or IfAvailable)`)
  else if (interactiveMode === 'Always') problems.add(`user "${userName}": exec interactiveMode Always needs a terminal, which Sluice never has`)
  else if (interactiveMode !== 'Never' && interactiveMode !== 'IfAvailable') problems.add(`user "${userName}": exec interactiveMode "${interactiveMode}" is not Never, IfAvailable or Always`)
  return { command, args, env, apiVersion, interactiveMode, provideClusterInfo: problems.bool(raw, 'provideClusterInfo', `${where}.provideClusterInfo`) }
}

/** `clusters: [{name, cluster: {...}}]` -> name -> fields; a name twice is refused, as client-go's conversion does. */
function namedEntries (root: Fields, list: string, field: string, problems: Problems): Map<string, Fields> {
  const out = new Map<string, Fields>()
  const raw = root[list]
  if (raw === undefined || raw === null) return out
  if (!Array.isArray(raw)) { problems.add(`${list} must be a list`); return out }
  for (const entry of raw) {
    if (!isRecord(entry) || typeof entry.name !== 'string') { problems.add(`every entry of ${list} needs a name`); continue }
    const body = entry[field] ?? {}
    if (!isRecord(body)) { problems.add(`${list}[${entry.name}].${field} must be a mapping`); continue }
    if (out.has(entry.name)) { problems.add(`duplicate name "${entry.name}" in ${list}`); continue }
    out.set(entry.name, body)
  }
  return out
}

/** client_config.go: a server URL with a path keeps it (a prefix), minus query and fragment. */
function stripQuery (server: string): string {
  const cut = server.search(/[?#]/)
  return cut < 0 ? server : server.slice(0, cut)
}

/** Collects every problem of a file, so the operator fixes them in one round. */
class Problems {
  readonly #path: string
  readonly #lines: string[] = []
  constructor (path: string) { this.#path = path }

  add (problem: string): void { this.#lines.push(`kubeconfig: ${this.#path}: ${problem}`) }

  throwIfAny (): void {
    if (this.#lines.length > 0) throw new ConfigError(this.#lines)
  }

  str (fields: Fields, key: string, where: string): string {
    const v = fields[key]
    if (v === undefined || v === null) return ''
    if (typeof v !== 'string') { this.add(`${where} must be a string`); return '' }
    return v
  }

  bool (fields: Fields, key: string, where: string): boolean {
    const v = fields[key]
    if (v === undefined || v === null) return false
    if (typeof v !== 'boolean') { this.add(`${where} must be true or false`); return false }
    return v
  }

  /** `*-data` fields: standard base64 (as Go's encoding/json decodes []byte: line breaks skipped), returned decoded. */
  base64 (fields: Fields, key: string, where: string): string {
    const v = this.str(fields, key, where).replace(/[\r\n]/g, '')
    if (v === '') return ''
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v)) { this.add(`${where} is not base64`); return '' }
    return Buffer.from(v, 'base64').toString('utf8')
  }

  read (readFile: (file: string) => string, file: string, what: string): string {
    try {
      return readFile(file)
    } catch (err) {
      this.add(`cannot read the ${what}: ${messageOf(err)}`)
      return ''
    }
  }
}
