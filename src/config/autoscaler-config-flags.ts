import { boolOf, intOf, parseOptions, strOf, type ConfigResult, type OptionSpec } from './options.ts'
import { LOG_LEVELS } from './log-levels.ts'

export type ActuatorKind = 'local' | 'none'

/** `sluice autoscaler` configuration (the KPA keys themselves come from --config's `autoscaler:`). */
export interface AutoscalerModeConfig {
  readonly statsPort: number
  readonly statusPort: number
  readonly host: string
  readonly configFile: string
  readonly actuator: ActuatorKind
  /** Activator admin API base URL ('' = do not register endpoints). */
  readonly activatorAdmin: string
  /** Activator traffic URL: probed before scale to zero, shown on the status page ('' = none). */
  readonly activatorUrl: string
  /** Activator metrics URL, for queue depths on the status page ('' = unknown). */
  readonly activatorMetrics: string
  readonly scrape: boolean
  readonly drainSeconds: number
  readonly podLog: string
  readonly logLevel: string
}

const HTTP_URL = /^https?:\/\/[^/]+/

export const AUTOSCALER_MODE_OPTIONS: readonly OptionSpec[] = [
  { flag: 'stats-port', env: '', kind: 'int', min: 0, max: 65535, default: '8080', help: 'websocket stat server (activators push here; knative and json protocols)' },
  { flag: 'status-port', env: '', kind: 'int', min: 0, max: 65535, default: '9000', help: 'status page and GET /status JSON' },
  { flag: 'host', env: '', kind: 'string', default: '127.0.0.1', help: 'address to listen on' },
  { flag: 'config', env: '', kind: 'string', default: '', help: 'YAML/JSON file: apps to run and config-autoscaler keys (docs/sluice-up.md)' },
  { flag: 'actuator', env: '', kind: 'string', choices: ['local', 'none'], default: 'local', help: 'how pods are run: local processes, or none (decide and report only)' },
  { flag: 'activator-admin', env: '', kind: 'string', default: '', help: 'activator admin API, e.g. http://127.0.0.1:8022 (endpoints are registered there)' },
  { flag: 'activator-url', env: '', kind: 'string', default: '', help: 'activator traffic URL, e.g. http://127.0.0.1:8012 (probed before scaling to zero)' },
  { flag: 'activator-metrics', env: '', kind: 'string', default: '', help: 'activator metrics URL, e.g. http://127.0.0.1:9090/metrics (queue depth on the status page)' },
  { flag: 'scrape', env: '', kind: 'bool', default: 'true', help: 'scrape sidecars every second (--no-scrape: activator stats only)' },
  { flag: 'drain-seconds', env: '', kind: 'number', min: 0, max: 300, default: '0.5', help: 'local pods: sidecar drain after SIGTERM' },
  { flag: 'pod-log', env: '', kind: 'string', default: '', help: 'local pods: append their output to this file' },
  { flag: 'log-level', env: '', kind: 'string', choices: LOG_LEVELS, default: 'info', help: 'log level' },
]

export function loadAutoscalerModeConfig (argv: readonly string[], env: NodeJS.ProcessEnv): ConfigResult<AutoscalerModeConfig> {
  const parsed = parseOptions(AUTOSCALER_MODE_OPTIONS, argv, env)
  const v = parsed.values
  const problems = parsed.problems
  if (parsed.positionals.length > 0) problems.push(`config: unexpected argument ${JSON.stringify(parsed.positionals[0])}`)
  for (const flag of ['activator-admin', 'activator-url', 'activator-metrics']) {
    const url = strOf(v, flag)
    if (url !== '' && !HTTP_URL.test(url)) problems.push(`config: --${flag} must be an http:// URL, got ${JSON.stringify(url)}`)
  }
  const statsPort = intOf(v, 'stats-port', 8080)
  const statusPort = intOf(v, 'status-port', 9000)
  if (statsPort !== 0 && statsPort === statusPort) problems.push(`config: --stats-port and --status-port are both ${statsPort}`)
  const drain = v.get('drain-seconds')
  const config: AutoscalerModeConfig = Object.freeze({
    statsPort,
    statusPort,
    host: strOf(v, 'host', '127.0.0.1'),
    configFile: strOf(v, 'config'),
    actuator: strOf(v, 'actuator', 'local') === 'none' ? 'none' : 'local',
    activatorAdmin: strOf(v, 'activator-admin'),
    activatorUrl: strOf(v, 'activator-url'),
    activatorMetrics: strOf(v, 'activator-metrics'),
    scrape: boolOf(v, 'scrape', true),
    drainSeconds: typeof drain === 'number' ? drain : 0.5,
    podLog: strOf(v, 'pod-log'),
    logLevel: strOf(v, 'log-level', 'info'),
  })
  return { config: problems.length === 0 ? config : null, problems, help: parsed.help }
}
