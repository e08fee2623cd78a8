// A kubeconfig `exec` credential plugin run as client-go runs it (plugin/pkg/client/auth/exec/exec.go):
// the command with its args, the activator's environment plus the configured env and
// KUBERNETES_EXEC_INFO (an ExecCredential naming the version, spec.interactive false, and the cluster
// when provideClusterInfo), no stdin. It prints an ExecCredential of the same apiVersion whose status
// holds a bearer token or a client certificate and key. The answer is kept until its
// expirationTimestamp (wall clock, as the plugin means it), or until the API server answers 401: then
// the client drops it (invalidate) and runs the plugin again for one retry.
//
// One run at a time: concurrent callers (four list+watch loops at start) share it.

import { realClock, type Clock } from '../shared/clock.ts'
import { KubeCredentialsError } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'
import { realTimers, type Timers } from '../shared/timers.ts'
import type { KubeExecConfig, KubeRestConfig } from './kube-config.ts'
import { isRecord } from '../shared/is-record.ts'

/** A plugin that has not answered by then is killed (client-go waits forever; a stuck start is worse). */
export const EXEC_TIMEOUT_MS = 60_000
const MAX_STDOUT_BYTES = 1 << 20
const MAX_STDERR_BYTES = 4096

export interface ExecCredential {
  /** '' when the plugin gave a client certificate instead. */
  readonly token: string
  readonly certData: string
  readonly keyData: string
  /** Wall-clock ms; null = until the API server refuses it. */
  readonly expiresAtMs: number | null
}

export interface ExecCredentialPluginOptions {
  readonly exec: KubeExecConfig
  /** For KUBERNETES_EXEC_INFO's spec.cluster (provideClusterInfo). */
  readonly cluster: Pick<KubeRestConfig, 'host' | 'caData' | 'insecure' | 'serverName'>
  /** The environment the plugin inherits (the activator's; the CLI passes it in). */
  readonly baseEnv: Readonly<Record<string, string | undefined>>
  readonly logger: Logger
  readonly clock?: Clock
  readonly timers?: Timers
  readonly timeoutMs?: number
}

export class ExecCredentialPlugin {
  readonly #exec: KubeExecConfig
  readonly #env: Record<string, string>
  readonly #logger: Logger
  readonly #clock: Clock
  readonly #timers: Timers
  readonly #timeoutMs: number
  #cached: ExecCredential | null = null
  #running: Promise<ExecCredential> | null = null
  #runs = 0

  constructor (opts: ExecCredentialPluginOptions) {
    this.#exec = opts.exec
    this.#logger = opts.logger
    this.#clock = opts.clock ?? realClock
    this.#timers = opts.timers ?? realTimers
    this.#timeoutMs = opts.timeoutMs ?? EXEC_TIMEOUT_MS
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(opts.baseEnv)) if (v !== undefined) env[k] = v
    for (const v of opts.exec.env) env[v.name] = v.value
    const spec: Record<string, unknown> = { interactive: false }
    if (opts.exec.provideClusterInfo) {
      const c = opts.cluster
      const cluster: Record<string, unknown> = { server: c.host }
      if (c.serverName !== '') cluster['tls-server-name'] = c.serverName
      if (c.insecure) cluster['insecure-skip-tls-verify'] = true
      if (c.caData !== '') cluster['certificate-authority-data'] = Buffer.from(c.caData).toString('base64')
      spec.cluster = cluster
    }
    env.KUBERNETES_EXEC_INFO = JSON.stringify({ apiVersion: opts.exec.apiVersion, kind: 'ExecCredential', spec })
    this.#env = env
  }

  /** Times the plugin ran (logs, tests). */
  get runs (): number { return this.#runs }

  /** The cached credential while unexpired, else the plugin's next answer; rejects with KubeCredentialsError. */
  async credential (): Promise<ExecCredential> {
    const cached = this.#cached
    if (cached !== null && (cached.expiresAtMs === null || this.#clock.wallMs() < cached.expiresAtMs)) return cached
    if (this.#running === null) {
      this.#running = this.#run().finally(() => { this.#running = null })
    }
    return await this.#running
  }

  /** The API server refused `stale` (401): the next credential() runs the plugin again. */
  invalidate (stale: ExecCredential): void {
    if (this.#cached === stale) this.#cached = null
  }

  async #run (): Promise<ExecCredential> {
    this.#runs++
    const stdout = await this.#spawn()
    const credential = parseExecCredential(stdout, this.#exec)
    this.#cached = credential
    this.#logger.debug({ command: this.#exec.command, expiresAtMs: credential.expiresAtMs }, 'kubernetes exec plugin gave a credential')
    return credential
  }

  #spawn (): Promise<string> {
    const { spawn } = process.getBuiltinModule('node:child_process')
    const command = this.#exec.command
    return new Promise<string>((resolve, reject) => {
      const child = spawn(command, [...this.#exec.args], { env: this.#env, stdio: ['ignore', 'pipe', 'pipe'] })
      const out: Buffer[] = []
      let outBytes = 0
      let err = ''
      let settled = false
      // A timeout or an overflow settles at once and lets go of the pipes: waiting for 'close' would
      // wait for every process that inherited them (a plugin that leaves a background child behind),
      // and every request waits on this run.
      const abandon = (failure: KubeCredentialsError): void => {
        if (settled) return
        settled = true
        timeout.cancel()
        child.stdout.destroy()
        child.stderr.destroy()
        child.kill('SIGKILL')
        reject(failure)
      }
      const timeout = this.#timers.setTimeout(() => {
        abandon(new KubeCredentialsError(`kubernetes exec plugin ${command}: no answer within ${this.#timeoutMs} ms; killed`))
      }, this.#timeoutMs)
      child.stdout.on('data', (chunk: Buffer) => {
        outBytes += chunk.length
        if (outBytes > MAX_STDOUT_BYTES) abandon(new KubeCredentialsError(`kubernetes exec plugin ${command}: more than ${MAX_STDOUT_BYTES} bytes of output`))
        else out.push(chunk)
      })
      child.stderr.on('data', (chunk: Buffer) => {
        if (err.length < MAX_STDERR_BYTES) err += chunk.toString('utf8').slice(0, MAX_STDERR_BYTES - err.length)
      })
      child.on('error', (e) => {
        if (settled) return
        settled = true
        timeout.cancel()
        reject(new KubeCredentialsError(`kubernetes exec plugin ${command}: cannot run it: ${e.message}`, { cause: e }))
      })
      child.on('close', (code, signal) => {
        if (settled) return
        settled = true
        timeout.cancel()
        if (code !== 0) {
          const why = signal !== null ? `killed by ${signal}` : `exit status ${String(code)}`
          const said = err.trim() === '' ? '' : `: ${err.trim()}`
          reject(new KubeCredentialsError(`kubernetes exec plugin ${command}: ${why}${said}`))
          return
        }
        resolve(Buffer.concat(out).toString('utf8'))
      })
    })
  }
}

/** The plugin's stdout -> a credential; what client-go refuses is refused with the same reason. */
export function parseExecCredential (stdout: string, exec: KubeExecConfig): ExecCredential {
  const fail = (why: string): KubeCredentialsError => new KubeCredentialsError(`kubernetes exec plugin ${exec.command}: ${why}`)
  let doc: unknown
  try {
    doc = JSON.parse(stdout)
  } catch {
    throw fail('its output is not an ExecCredential (not JSON)')
  }
  if (!isRecord(doc) || doc.kind !== 'ExecCredential') throw fail('its output is not an ExecCredential (kind)')
  if (doc.apiVersion !== exec.apiVersion) throw fail(`it answered apiVersion ${String(doc.apiVersion)}, the kubeconfig asks for ${exec.apiVersion}`)
  const status = doc.status
  if (!isRecord(status)) throw fail('its ExecCredential has no status')
  const token = typeof status.token === 'string' ? status.token : ''
  const certData = typeof status.clientCertificateData === 'string' ? status.clientCertificateData : ''
  const keyData = typeof status.clientKeyData === 'string' ? status.clientKeyData : ''
  if ((certData === '') !== (keyData === '')) throw fail('its ExecCredential has a client certificate without a key, or a key without a certificate')
  if (token === '' && certData === '') throw fail('its ExecCredential has neither a token nor a client certificate and key')
  let expiresAtMs: number | null = null
  if (typeof status.expirationTimestamp === 'string' && status.expirationTimestamp !== '') {
    expiresAtMs = Date.parse(status.expirationTimestamp)
    if (Number.isNaN(expiresAtMs)) throw fail(`its expirationTimestamp "${status.expirationTimestamp}" is not a time`)
  }
  return { token, certData, keyData, expiresAtMs }
}

