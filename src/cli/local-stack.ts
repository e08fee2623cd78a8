// Wiring shared by `sluice up` and `sluice autoscaler`: an apps file (src/config/apps-file.ts)
// becomes a checked config-autoscaler, revisions for the multiscaler and for the local actuator,
// and a place for pod output. Every problem is found here, at start.

import { createWriteStream, type WriteStream } from 'node:fs'
import {
  AUTOSCALER_CONFIG_KEYS, parseAutoscalerConfig, unknownAutoscalerConfigKeys, type AutoscalerConfig,
} from '../autoscaler/autoscaler-config.ts'
import { makeDeciderSpec } from '../autoscaler/decider-spec.ts'
import type { LocalRevision } from '../local/local-actuator.ts'
import type { PodOutput } from '../local/local-pod.ts'
import type { AutoscaledRevision } from '../autoscaler/multiscaler.ts'
import type { AppDefinition, AppsFile } from '../config/apps-file.ts'

export interface LocalStackPlan {
  readonly config: AutoscalerConfig
  readonly apps: readonly AppDefinition[]
}

/**
 * Checks the file's autoscaler keys (over `defaults`) and every app's autoscaling settings.
 * Unknown keys are problems here (Knative ignores them; a typo in a local file should fail loudly).
 */
export function planLocalStack (file: AppsFile, defaults: Readonly<Record<string, string>>): { plan: LocalStackPlan | null, problems: string[] } {
  const problems: string[] = []
  const data = { ...defaults, ...file.autoscaler }
  for (const key of unknownAutoscalerConfigKeys(data)) {
    problems.push(`config: autoscaler.${key}: unknown config-autoscaler key (known: ${AUTOSCALER_CONFIG_KEYS.join(', ')})`)
  }
  const parsed = parseAutoscalerConfig(data)
  if (parsed.config === null) {
    problems.push(...parsed.problems)
    return { plan: null, problems }
  }
  for (const app of file.apps) {
    const spec = makeDeciderSpec(parsed.config, { containerConcurrency: app.containerConcurrency, annotations: app.annotations })
    if (spec.spec === null) problems.push(...spec.problems.map((p) => `config: app ${app.namespace}/${app.name}: ${p}`))
  }
  return { plan: problems.length === 0 ? { config: parsed.config, apps: file.apps } : null, problems }
}

export function toAutoscaledRevision (app: AppDefinition): AutoscaledRevision {
  return { namespace: app.namespace, name: app.name, containerConcurrency: app.containerConcurrency, annotations: app.annotations }
}

export function toLocalRevision (app: AppDefinition, extraHosts: readonly string[] = []): LocalRevision {
  const hosts = [...app.hosts]
  for (const h of extraHosts) if (!hosts.includes(h)) hosts.push(h)
  return {
    namespace: app.namespace,
    name: app.name,
    containerConcurrency: app.containerConcurrency,
    command: app.command,
    userPort: app.port,
    env: app.env,
    cwd: app.cwd,
    hosts,
    timeoutSeconds: app.timeoutSeconds,
    readinessProbe: app.readinessProbe,
  }
}

/** Appends pod output to a file, one line per output line, prefixed with the pod and process. */
export class PodLogFile implements PodOutput {
  readonly #stream: WriteStream
  constructor (path: string) {
    this.#stream = createWriteStream(path, { flags: 'a' })
    this.#stream.on('error', () => { /* a broken log file must not stop the pods */ })
  }

  line (pod: string, process: 'app' | 'sidecar', text: string): void {
    this.#stream.write(`${pod} ${process} | ${text}\n`)
  }

  close (): Promise<void> {
    return new Promise((resolve) => { this.#stream.end(() => { resolve() }) })
  }
}
