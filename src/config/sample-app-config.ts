import { hostname } from 'node:os'
import { intOf, parseOptions, strOf, type ConfigResult, type OptionSpec } from './options.ts'

/** `sluice sample-app` configuration. */
export interface SampleAppConfig {
  readonly port: number
  readonly host: string
  /** Delay before listening, ms (a slow-starting app, to make cold starts visible). */
  readonly coldStartMs: number
  /** Longest ?sleep= honoured, ms. */
  readonly maxSleepMs: number
  /** Shown in every answer. */
  readonly podName: string
  readonly revision: string
}

export const SAMPLE_APP_OPTIONS: readonly OptionSpec[] = [
  { flag: 'port', env: 'PORT', kind: 'int', min: 0, max: 65535, default: '8080', help: 'port to listen on (Knative sets PORT)' },
  { flag: 'host', env: '', kind: 'string', default: '0.0.0.0', help: 'address to listen on' },
  { flag: 'cold-start-ms', env: 'COLD_START_MS', kind: 'int', min: 0, max: 600_000, default: '0', help: 'wait this long before listening (simulated slow start)' },
  { flag: 'max-sleep-ms', env: '', kind: 'int', min: 0, default: '60000', help: 'cap for ?sleep=MS' },
  { flag: '', env: 'POD_NAME', kind: 'string', help: 'name shown in answers (default: HOSTNAME, then the host name)' },
  { flag: '', env: 'HOSTNAME', kind: 'string', help: 'fallback pod name (Kubernetes sets it)' },
  { flag: '', env: 'K_REVISION', kind: 'string', default: '', help: 'revision shown in answers (Knative sets it)' },
]

export function loadSampleAppConfig (argv: readonly string[], env: NodeJS.ProcessEnv): ConfigResult<SampleAppConfig> {
  const parsed = parseOptions(SAMPLE_APP_OPTIONS, argv, env)
  const v = parsed.values
  const problems = parsed.problems
  if (parsed.positionals.length > 0) problems.push(`config: unexpected argument ${JSON.stringify(parsed.positionals[0])}`)
  const config: SampleAppConfig = Object.freeze({
    port: intOf(v, 'port', 8080),
    host: strOf(v, 'host', '0.0.0.0'),
    coldStartMs: intOf(v, 'cold-start-ms'),
    maxSleepMs: intOf(v, 'max-sleep-ms', 60_000),
    podName: strOf(v, 'POD_NAME') || strOf(v, 'HOSTNAME') || hostname(),
    revision: strOf(v, 'K_REVISION'),
  })
  return { config: problems.length === 0 ? config : null, problems, help: parsed.help }
}
