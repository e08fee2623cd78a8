import { intOf, parseOptions, strOf, type ConfigResult, type OptionSpec } from './options.ts'
import { LOG_LEVELS } from './log-levels.ts'

export type StatsProtocolName = 'knative' | 'json'

/** `sluice up` configuration. */
export interface UpConfig {
  /** Where users send traffic (the activator's port). */
  readonly port: number
  /** Status page and GET /status. */
  readonly statusPort: number
  /** Address to listen on (traffic, status, and the activator's internal ports, which share its --host). */
  readonly host: string
  /** --config FILE ('' = the built-in `hello` revision). */
  readonly configFile: string
  readonly statsProtocol: StatsProtocolName
  /** Cold start of the built-in sample app, ms. */
  readonly coldStartMs: number
  /** Sidecar drain after SIGTERM, seconds. */
  readonly drainSeconds: number
  /** File that receives every pod's output ('' = dropped; crash output is logged anyway). */
  readonly podLog: string
  readonly logLevel: string
  /** Keep each revision's next sidecar running ahead (LocalActuator spareSidecars). */
  readonly spareSidecar: boolean
}


export const UP_OPTIONS: readonly OptionSpec[] = [
  { flag: 'port', env: '', kind: 'int', min: 1, max: 65535, default: '8080', help: 'where users call the revisions (the activator); with one revision, localhost routes to it' },
  { flag: 'status-port', env: '', kind: 'int', min: 1, max: 65535, default: '9000', help: 'status page and GET /status JSON' },
  { flag: 'host', env: '', kind: 'string', default: '127.0.0.1', help: 'address to listen on' },
  { flag: 'config', env: '', kind: 'string', default: '', help: 'YAML/JSON file with your apps and config-autoscaler keys (see docs/sluice-up.md); default: the built-in hello revision' },
  { flag: 'stats-protocol', env: '', kind: 'string', choices: ['knative', 'json'], default: 'knative', help: 'activator -> autoscaler stats framing' },
  { flag: 'cold-start-ms', env: '', kind: 'int', min: 0, max: 600_000, default: '0', help: 'extra start-up delay of the built-in sample app' },
  { flag: 'drain-seconds', env: '', kind: 'number', min: 0, max: 300, default: '0.5', help: 'sidecar drain after SIGTERM (pods are deregistered from the activator first)' },
  { flag: 'pod-log', env: '', kind: 'string', default: '', help: 'append every pod\'s output to this file (default: dropped)' },
  { flag: 'log-level', env: '', kind: 'string', choices: LOG_LEVELS, default: 'info', help: 'log level' },
  { flag: 'spare-sidecar', env: '', kind: 'bool', default: 'false', help: 'keep each revision\'s next sidecar running, without its app, so a pod (a scale from zero above all) only waits for its app to start; costs one idle sidecar process per revision, at zero pods too' },
]

export function loadUpConfig (argv: readonly string[], env: NodeJS.ProcessEnv): ConfigResult<UpConfig> {
  const parsed = parseOptions(UP_OPTIONS, argv, env)
  const v = parsed.values
  const problems = parsed.problems
  if (parsed.positionals.length > 0) problems.push(`config: unexpected argument ${JSON.stringify(parsed.positionals[0])}`)
  const port = intOf(v, 'port', 8080)
  const statusPort = intOf(v, 'status-port', 9000)
  if (port === statusPort) problems.push(`config: --port and --status-port are both ${port}`)
  const drain = v.get('drain-seconds')
  const config: UpConfig = Object.freeze({
    port,
    statusPort,
    host: strOf(v, 'host', '127.0.0.1'),
    configFile: strOf(v, 'config'),
    statsProtocol: strOf(v, 'stats-protocol', 'knative') === 'json' ? 'json' : 'knative',
    coldStartMs: intOf(v, 'cold-start-ms'),
    drainSeconds: typeof drain === 'number' ? drain : 0.5,
    podLog: strOf(v, 'pod-log'),
    logLevel: strOf(v, 'log-level', 'info'),
    spareSidecar: v.get('spare-sidecar') === true,
  })
  return { config: problems.length === 0 ? config : null, problems, help: parsed.help }
}
