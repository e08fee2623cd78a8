import { Activator } from '../activator/activator-server.ts'
import type { RevisionSource } from '../activator/revision-spec.ts'
import { createRevisionsAdminHandler, readOnlyReasonFor } from '../activator/sources/admin-api.ts'
import type { AdminTokenFile } from '../activator/sources/admin-token-file.ts'
import type { StatPusher } from '../activator/stat-pusher.ts'
import { ACTIVATOR_OPTIONS, loadActivatorConfig, type ActivatorConfig } from '../config/activator-config.ts'
import { formatOptionsHelp } from '../config/options.ts'
import { ConfigError } from '../shared/errors.ts'
import { createJsonLogger } from '../shared/json-logger.ts'
import type { Logger } from '../shared/logger.ts'
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.ts'
import { reportConfigProblems } from './report-config-problems.ts'

const HELP = `Usage: sluice activator [flags]

Shared proxy in front of many revisions, like Knative's activator: buffers requests for a revision
with no ready endpoint until one passes its probe, keeps each endpoint at or under its container
concurrency, and reports per-revision concurrency to the autoscaler. --port and --h2c-port (Knative's
8012 and 8013) both take HTTP/1.1 and h2c; HTTP/2 requests (gRPC) go to the endpoint over h2c.

Routing: Knative-Serving-Namespace + Knative-Serving-Revision headers, else the Host header (hosts
configured on a revision, or <revision>.<namespace>.svc...). Revisions come from --revisions FILE,
the admin API (--source api: PUT/DELETE /revisions/{namespace}/{name} on --admin-port) or --source
kubernetes (EndpointSlices + Knative Revisions). GET /revisions answers whatever the source; writes
only with --source api. The admin port listens on --admin-host (127.0.0.1); --admin-token-file makes
every /revisions request need "Authorization: Bearer <token>".

Answers: 404 unknown revision; 503 "pending request queue full" beyond --queue-depth; 503 "request
timed out waiting for capacity" after --queue-timeout; 504 "activator request timeout" after the
revision's timeoutSeconds (default --activation-timeout); 502 when no endpoint could be reached.

`

// What only some options use is imported when they are given (issue 12): the revisions file
// reader (yaml), the stat pusher (ws), the admin token file (node:crypto), the Kubernetes client
// (node:https, and yaml for a kubeconfig file).

/** package.json's version, for the Kubernetes client's User-Agent (as main.ts reads it for --version). */
function packageVersion (): string {
  const pkg = JSON.parse(process.getBuiltinModule('node:fs').readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
  return pkg.version ?? '0.0.0'
}

async function buildSources (config: ActivatorConfig, logger: Logger, env: NodeJS.ProcessEnv): Promise<RevisionSource[]> {
  switch (config.source) {
    case 'static': {
      const { StaticFileSource } = await import('../activator/sources/static-file.ts')
      return [new StaticFileSource({ path: config.revisionsFile, logger })]
    }
    case 'kubernetes': {
      // Loaded only in this mode (the kubeconfig reader loads yaml, the client node:https).
      const { kubeConfigLocation, loadKubeConfig } = await import('../kube/kube-config.ts')
      const { KubernetesSource } = await import('../activator/sources/kubernetes.ts')
      const kubeConfig = config.kubernetesServer !== ''
        ? config.kubernetesServer
        : await loadKubeConfig(kubeConfigLocation(config.kubeEnv, config.homeDir), { logger })
      const namespace = config.kubernetesNamespace === '' ? null : config.kubernetesNamespace
      // POD_IP: the per-revision activator slot from the revisions' public endpoints (kubernetes.ts).
      // mesh-compatibility-mode (config-network): enabled/auto also watch the private Services' ClusterIPs.
      return [new KubernetesSource({
        kubeConfig,
        logger,
        namespace,
        podIp: config.podIp,
        meshMode: config.meshCompatibilityMode,
        userAgent: `sluice-activator/${packageVersion()}`,
        // A kubeconfig exec plugin inherits the activator's environment, as under client-go.
        execEnv: env,
      })]
    }
    case 'api': {
      // A seed file (sluice up): revisions known before the traffic port opens, so an early request
      // finds its revision (buffered until a pod is ready) instead of a 404.
      if (config.revisionsFile === '') return []
      const { StaticFileSource } = await import('../activator/sources/static-file.ts')
      return [new StaticFileSource({ path: config.revisionsFile, logger, watch: false })]
    }
  }
}

export async function activatorMain (argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const loaded = loadActivatorConfig(argv, env)
  if (loaded.help) { process.stdout.write(HELP + formatOptionsHelp(ACTIVATOR_OPTIONS) + '\n'); return EXIT_OK }
  const config = loaded.config
  if (config === null) return reportConfigProblems(loaded.problems)

  // pino's lines without pino, as the sidecar: ~7 MB of idle RSS and ~20 ms of start less (json-logger.ts; issue 12).
  const logger = createJsonLogger(config.logLevel, { mode: 'activator', pod: config.podName })
  for (const warning of config.warnings) logger.warn({ warning }, 'config accepted as Knative accepts it')
  let sources: RevisionSource[]
  try {
    sources = await buildSources(config, logger, env)
  } catch (err) {
    if (err instanceof ConfigError) return reportConfigProblems(err.problems)
    throw err
  }
  let adminToken: AdminTokenFile | null = null
  if (config.adminTokenFile !== '') {
    const { AdminTokenFile } = await import('../activator/sources/admin-token-file.ts')
    adminToken = new AdminTokenFile({ path: config.adminTokenFile, initial: config.adminToken, logger: logger.child({ component: 'admin-token' }) })
  }
  let pusher: StatPusher | null = null
  if (config.autoscalerUrl !== '') {
    const { StatPusher } = await import('../activator/stat-pusher.ts')
    pusher = new StatPusher({ url: config.autoscalerUrl, protocol: config.statsProtocol, logger: logger.child({ component: 'stat-pusher' }) })
  }
  const activator = new Activator(config, logger, {
    statSink: pusher,
    // Knative: the activator is not ready while its stats cannot reach the autoscaler.
    healthCheck: pusher === null ? null : () => (pusher.connected ? null : 'autoscaler websocket: connection has not yet been established'),
    sources,
    adminRoutes: (registry) => createRevisionsAdminHandler(registry, logger, {
      auth: adminToken,
      readOnlyReason: readOnlyReasonFor(config.source),
    }),
  })
  adminToken?.start()
  try {
    pusher?.start()
    await activator.listen()
    // kn.activator.stats.conn.* once OpenTelemetry is loaded (listen); the pusher dials before.
    pusher?.observe(activator.telemetry)
  } catch (err) {
    await activator.close()
    await pusher?.close()
    adminToken?.stop()
    if (err instanceof ConfigError) return reportConfigProblems(err.problems)
    logger.fatal({ err }, 'cannot start')
    return EXIT_FAILURE
  }
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(EXIT_FAILURE)
    }
    logger.info({ signal }, 'shutting down')
    activator.shutdown()
      .then(async () => { adminToken?.stop(); await pusher?.close() })
      .then(() => { process.exit(EXIT_OK) }, (err: unknown) => {
        logger.error({ err }, 'shutdown failed')
        process.exit(EXIT_FAILURE)
      })
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return null
}
