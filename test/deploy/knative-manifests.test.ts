import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { ENDPOINT_SLICES, KNATIVE_REVISIONS, SERVICES } from '../../src/activator/sources/kubernetes.ts'
import { loadActivatorConfig } from '../../src/config/activator-config.ts'
import { loadSidecarConfig } from '../../src/config/sidecar-config.ts'

// deploy/knative/ cannot be applied here (no cluster); what can go wrong without one is checked:
// the manifests parse, the args they give are ones the CLI accepts, the ports line up, RBAC covers
// what the Kubernetes source lists and watches, and the image's default command is the sidecar.

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const DIR = join(REPO, 'deploy', 'knative')

type Doc = Record<string, unknown>

function docs (file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`)
    return d.toJS() as Doc
  })
}

function at (v: unknown, ...path: Array<string | number>): unknown {
  let cur: unknown = v
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string | number, unknown>)[k]
  }
  return cur
}

const kustomization = docs('kustomization.yaml')[0]
const activator = docs('activator-deployment.yaml')[0]
const container = at(activator, 'spec', 'template', 'spec', 'containers', 0)
const args = at(container, 'args')

t.test('every YAML file parses and the kustomization names only files that are there (and serving-core.yaml)', async (t) => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'))
  for (const f of files) t.ok(docs(f).length >= 1, f)
  const listed = [...(at(kustomization, 'resources') as string[]), ...(at(kustomization, 'patches') as Array<{ path: string }>).map((p) => p.path)]
  for (const f of listed) {
    if (f === 'serving-core.yaml') continue
    t.ok(existsSync(join(DIR, f)), `${f} exists`)
  }
  t.same(files.filter((f) => f !== 'kustomization.yaml' && !listed.includes(f)), [], 'no stray manifest')
})

t.test('the activator patch runs args the activator accepts, with Knative\'s env', async (t) => {
  t.equal(at(container, 'name'), 'activator', 'patches Knative\'s container by name')
  t.ok(Array.isArray(args) && args[0] === 'activator')
  const list = Array.isArray(args) ? args.map(String) : []
  // Knative's ConfigMaps, mounted where the args read them (here empty stand-in directories).
  const standIns = new Map<string, string>()
  for (const [flag, configMap] of [['--observability-config-dir', 'config-observability'], ['--logging-config-dir', 'config-logging'], ['--network-config-dir', 'config-network']]) {
    const dirIndex = list.indexOf(flag ?? '') + 1
    const mountPath = list[dirIndex] ?? ''
    const mount = (at(container, 'volumeMounts') as Array<{ name: string, mountPath: string }>).find((m) => m.mountPath === mountPath)
    t.ok(dirIndex > 0 && mount !== undefined, `${flag}: the directory the args name is a volume mount`)
    const volume = (at(activator, 'spec', 'template', 'spec', 'volumes') as Array<{ name: string, configMap?: { name: string } }>).find((v) => v.name === mount?.name)
    t.equal(volume?.configMap?.name, configMap, `${flag}: Knative's ${configMap ?? ''} ConfigMap`)
    const standIn = mkdtempSync(join(tmpdir(), 'sluice-cm-'))
    t.teardown(() => { rmSync(standIn, { recursive: true, force: true }) })
    standIns.set(mountPath, standIn)
  }
  const { config, problems } = loadActivatorConfig(list.slice(1).map((a) => standIns.get(a) ?? a), { POD_NAME: 'activator-7d9f', POD_IP: '10.1.2.3', SYSTEM_NAMESPACE: 'knative-serving' })
  t.same(problems, [])
  // system-internal-tls: the activator's Secret mounted where --tls-cert-dir reads it, optional.
  const certMount = (at(container, 'volumeMounts') as Array<{ name: string, mountPath: string }>).find((m) => m.mountPath === config?.tls.certDir)
  const certVolume = (at(activator, 'spec', 'template', 'spec', 'volumes') as Array<{ name: string, secret?: { secretName: string, optional?: boolean } }>).find((v) => v.name === certMount?.name)
  t.same(certVolume?.secret, { secretName: 'routing-serving-certs', optional: true }, 'Knative\'s routing-serving-certs Secret (knative.dev/networking ServingRoutingCertName), optional')
  t.equal(config?.tls.port, 8112, 'Knative\'s BackendHTTPSPort, the activator Service\'s https targetPort')
  t.equal(config?.source, 'kubernetes')
  t.equal(config?.servingPort, 8012, 'Knative\'s http1 containerPort and probe port')
  t.equal(config?.metricsPort, 9090, 'Knative\'s metrics containerPort')
  t.equal(config?.autoscalerUrl, 'ws://autoscaler.knative-serving.svc.cluster.local:8080', 'Knative\'s autoscaler stat server')
  t.equal(config?.podName, 'activator-7d9f')
  t.equal(config?.h2cPort, 8013, 'Knative\'s h2c containerPort')
  t.equal(config?.meshCompatibilityMode, 'auto', 'an empty config-network: Knative\'s default mesh-compatibility-mode')
  t.equal(config?.adminHost, '127.0.0.1', 'the revisions admin API stays on loopback (read-only with --source kubernetes)')
})

// Knative's SKS (pkg/reconciler/serverlessservice/resources/services.go): a revision's public
// Endpoints, while the activator is in the path, are the activator's Endpoints with only the ports
// numbered targetPort(protocol) and 8112 kept (filterSubsetPorts).
const BACKEND_HTTP_PORT = 8012
const BACKEND_HTTP2_PORT = 8013
const BACKEND_HTTPS_PORT = 8112
function filterSubsetPorts (targetPort: number, ports: readonly number[]): number[] {
  return ports.filter((p) => p === BACKEND_HTTPS_PORT || p === targetPort)
}

t.test('the activator Service\'s h2c port survives SKS\'s port filter for h2c revisions, and the activator listens there', async (t) => {
  const service = docs('activator-service.yaml')[0]
  const patched = at(service, 'spec', 'ports') as Array<{ name: string, port: number, targetPort: number }>
  const http2 = patched.find((p) => p.name === 'http2')
  t.equal(http2?.port, 81, 'Knative\'s http2 service port')
  // The activator Endpoints' ports: Knative's Service (http 80 -> 8012, https 443 -> 8112, ...) with the patch over it.
  const endpointPorts = [BACKEND_HTTP_PORT, http2?.targetPort ?? 0, BACKEND_HTTPS_PORT, 9090, 8008]
  t.same(filterSubsetPorts(BACKEND_HTTP2_PORT, endpointPorts), [BACKEND_HTTP2_PORT, BACKEND_HTTPS_PORT], 'an h2c revision keeps the activator\'s 8013')
  t.same(filterSubsetPorts(BACKEND_HTTP_PORT, endpointPorts), [BACKEND_HTTP_PORT, BACKEND_HTTPS_PORT], 'an http1 revision keeps 8012')
  // (The previous test loads these args as the activator does.)
  const list = Array.isArray(args) ? args.map(String) : []
  t.equal(Number(list[list.indexOf('--h2c-port') + 1]), http2?.targetPort, 'the activator listens on the http2 targetPort (--h2c-port)')
  t.equal(Number(list[list.indexOf('--port') + 1]), BACKEND_HTTP_PORT)
  const ports = at(container, 'ports') as Array<{ name: string, containerPort: number }>
  t.same(ports.map((p) => [p.name, p.containerPort]), [['http1', BACKEND_HTTP_PORT], ['h2c', BACKEND_HTTP2_PORT]], 'Knative\'s container ports, by name')
})

t.test('RBAC lets the activator list and watch what the Kubernetes source reads', async (t) => {
  const [role, binding] = docs('activator-endpointslices-rbac.yaml')
  const rules = at(role, 'rules') as Array<{ apiGroups: string[], resources: string[], verbs: string[] }>
  for (const kind of [ENDPOINT_SLICES, KNATIVE_REVISIONS, SERVICES]) {
    const rule = rules.find((r) => r.apiGroups.includes(kind.group) && r.resources.includes(kind.plural))
    t.ok(rule !== undefined && rule.verbs.includes('list') && rule.verbs.includes('watch'), `${kind.group}/${kind.plural}: list, watch`)
  }
  t.same(at(binding, 'subjects', 0), { kind: 'ServiceAccount', name: 'activator', namespace: 'knative-serving' }, 'Knative\'s activator service account')
  t.equal(at(binding, 'roleRef', 'name'), at(role, 'metadata', 'name'))
})

/** The Dockerfile's stages by name (`FROM ... AS name`), each with its text up to the next FROM. */
function dockerStages (dockerfile: string): Map<string, string> {
  const stages = new Map<string, string>()
  const parts = dockerfile.split(/^(?=FROM\s)/m).filter((p) => p.startsWith('FROM'))
  for (const part of parts) {
    const name = /^FROM\s+\S+\s+AS\s+(\S+)/i.exec(part)?.[1]
    if (name !== undefined) stages.set(name, part)
  }
  return stages
}

const DOCKERFILE = readFileSync(join(REPO, 'Dockerfile'), 'utf8')
const STAGES = dockerStages(DOCKERFILE)

t.test('queue-sidecar-image and the activator image: one per mode, as kustomize sets them', async (t) => {
  const images = at(kustomization, 'images') as Array<{ name: string, newName: string, newTag: string }>
  const sidecarImage = images.find((i) => i.name === 'sluice-sidecar')
  const activatorImage = images.find((i) => i.name === 'sluice-activator')
  const cm = docs('config-deployment.yaml')[0]
  t.equal(at(cm, 'data', 'queue-sidecar-image'), `${sidecarImage?.newName}:${sidecarImage?.newTag}`, 'revision pods get the sidecar target\'s image')
  t.equal(at(container, 'image'), activatorImage?.name, 'the activator runs the activator target\'s image')
  t.not(sidecarImage?.newName, activatorImage?.newName, 'two images')
  const sidecar = STAGES.get('sidecar') ?? ''
  t.match(sidecar, /^ENTRYPOINT \["sluice"\]$/m)
  t.match(sidecar, /^CMD \["sidecar"\]$/m, 'Knative runs the queue-proxy image without a command')
  t.match(STAGES.get('activator') ?? '', /^CMD \["activator"\]$/m)
  t.equal(DOCKERFILE.slice(DOCKERFILE.lastIndexOf('\nFROM ')).trim().split('\n')[0], 'FROM runtime AS sidecar', 'a build without --target builds the sidecar')
  // What Knative's controller sets on the queue-proxy container (pkg/reconciler/revision/resources/queue.go).
  const env = {
    SERVING_NAMESPACE: 'default', SERVING_SERVICE: 'hello', SERVING_CONFIGURATION: 'hello', SERVING_REVISION: 'hello-00001',
    QUEUE_SERVING_PORT: '8012', QUEUE_SERVING_TLS_PORT: '8112', CONTAINER_CONCURRENCY: '0', REVISION_TIMEOUT_SECONDS: '300',
    REVISION_RESPONSE_START_TIMEOUT_SECONDS: '0', REVISION_IDLE_TIMEOUT_SECONDS: '0', SERVING_POD: 'hello-00001-deployment-abc',
    SERVING_POD_IP: '10.1.2.4', SERVING_LOGGING_CONFIG: '', SERVING_LOGGING_LEVEL: '', USER_PORT: '8080', SYSTEM_NAMESPACE: 'knative-serving',
    METRICS_DOMAIN: 'knative.dev/internal/serving', SERVING_READINESS_PROBE: '{"tcpSocket":{"port":8080,"host":"127.0.0.1"},"successThreshold":1}',
    ENABLE_PROFILING: 'false', ENABLE_HTTP2_AUTO_DETECTION: 'false', ENABLE_HTTP_FULL_DUPLEX: 'false', ROOT_CA: '', ENABLE_MULTI_CONTAINER_PROBES: 'false',
    OBSERVABILITY_CONFIG: '{}', HOST_IP: '10.0.0.5',
    QUEUE_PROXY_TLS_MIN_VERSION: '', QUEUE_PROXY_TLS_MAX_VERSION: '', QUEUE_PROXY_TLS_CIPHER_SUITES: '', QUEUE_PROXY_TLS_CURVE_PREFERENCES: '',
  }
  const { problems } = loadSidecarConfig([], env)
  t.same(problems, [], 'the sidecar starts from Knative\'s queue-proxy env alone')
})

/**
 * The image-user check a kubelet makes for a container with runAsNonRoot and no runAsUser (what
 * Knative sets on the queue-proxy and activator): the runtime reports the image's USER as a uid
 * when its user part parses as an integer, else as a name (containerd's getUserFromImage), and
 * the kubelet refuses a name and uid 0 (pkg/kubelet/kuberuntime/security_context_others.go,
 * verifyRunAsNonRoot). Returns the kubelet's refusal, or null when the container may start.
 */
function runAsNonRootRefusal (imageUser: string): string | null {
  const user = imageUser.split(':')[0] ?? ''
  if (user === '') return null
  if (!/^[+-]?\d+$/.test(user)) return `container has runAsNonRoot and image has non-numeric user (${user}), cannot verify user is non-root`
  const uid = Number(user)
  if (uid === 0) return 'container has runAsNonRoot and image will run as root'
  if (uid < 1 || uid > 2 ** 31 - 1) return `container has runAsNonRoot and image has an invalid user id (${uid})`
  return null
}

t.test('the kubelet check of runAsNonRoot, as modelled: names and root are refused', async (t) => {
  t.match(runAsNonRootRefusal('node'), /non-numeric user \(node\)/)
  t.match(runAsNonRootRefusal('node:node'), /non-numeric user/)
  t.match(runAsNonRootRefusal('0'), /will run as root/)
  t.match(runAsNonRootRefusal('0:1000'), /will run as root/)
  t.equal(runAsNonRootRefusal('1000'), null)
  t.equal(runAsNonRootRefusal('65532:65532'), null)
})

t.test('the images start under Knative\'s security context (runAsNonRoot, no runAsUser): numeric non-root USER', async (t) => {
  // The USER in force is the last one of each runtime stage (the images Knative runs).
  for (const name of ['runtime', 'sidecar', 'activator']) {
    const users = [...(STAGES.get(name) ?? '').matchAll(/^USER\s+(\S+)\s*$/gm)].map((m) => m[1] ?? '')
    t.ok(users.length > 0, `the ${name} stage sets a USER`)
    const user = users.at(-1) ?? ''
    t.equal(runAsNonRootRefusal(user), null, `${name}: USER ${user} passes the kubelet's check`)
  }
  const activator = docs('activator-deployment.yaml')[0]
  t.ok(JSON.stringify(activator).includes('"runAsNonRoot":true') || !JSON.stringify(activator).includes('runAsNonRoot'),
    'the activator patch does not loosen Knative\'s runAsNonRoot')
})

t.test('no image carries a Kubernetes client or OpenTelemetry\'s packages; both targets share one deps stage', async (t) => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>, optionalDependencies?: Record<string, string> }
  // Sluice's own client (src/activator/sources/kube-*.ts) replaced @kubernetes/client-node (issue 12).
  t.notOk('@kubernetes/client-node' in { ...pkg.dependencies, ...pkg.optionalDependencies }, 'no Kubernetes client package')
  // OpenTelemetry is bundled into lazy chunks for every mode (scripts/build.mjs), so its packages go.
  t.match(STAGES.get('deps') ?? '', /npm ci --omit=dev [^\n]*\n[^\n]*npm uninstall [^\n]*startsWith\('@opentelemetry\/'\)[^\n]*--omit=dev/, 'the OpenTelemetry packages the bundles carry')
  t.notOk(STAGES.has('deps-sidecar') || STAGES.has('deps-activator'), 'one deps stage')
  t.match(STAGES.get('sidecar') ?? '', /^COPY --from=deps \/app\/node_modules /m)
  t.match(STAGES.get('activator') ?? '', /^COPY --from=deps \/app\/node_modules /m)
  t.notMatch(STAGES.get('runtime') ?? '', /node_modules/, 'the shared runtime stage has no dependencies of its own')
  t.match(STAGES.get('sidecar') ?? '', /^ENV SLUICE_NODE_FLAGS="--max-semi-space-size=1 --no-concurrent-recompilation --no-sparkplug"$/m, 'the sidecar\'s V8 flags (loadtest/cold.bench.ts runs the image form with them)')
  t.match(STAGES.get('activator') ?? '', /^ENV SLUICE_NODE_FLAGS="--max-semi-space-size=1 --no-concurrent-recompilation --no-sparkplug"$/m, 'the activator\'s V8 flags (loadtest/cold.bench.ts runs its image form with them)')
  t.match(STAGES.get('runtime') ?? '', /ln -s \/app\/bin\/image-entry\.sh \/usr\/local\/bin\/sluice/, '`sluice` passes them to node')
  t.match(readFileSync(join(REPO, 'bin', 'image-entry.sh'), 'utf8'), /^exec node \$SLUICE_NODE_FLAGS \/app\/bin\/sluice "\$@"$/m)
  t.match(STAGES.get('runtime') ?? '', /^ENV NODE_COMPILE_CACHE=\/app\/.compile-cache$/m, 'a compile cache in the image')
  for (const mode of ['sidecar', 'activator']) {
    const stage = STAGES.get(mode) ?? ''
    const warm = stage.search(new RegExp(`^RUN sluice ${mode} --help > /dev/null$`, 'm'))
    t.ok(warm > stage.search(/^USER 1000:1000$/m) && warm > stage.search(/^ENV SLUICE_NODE_FLAGS=/m), `${mode}: warmed as the runtime user, with the runtime's flags`)
  }
})

t.test('the malloc_trim addon: built in its own stage, only the built file reaches the images, named by SLUICE_MALLOC_TRIM_ADDON', async (t) => {
  const native = STAGES.get('native') ?? ''
  t.match(native, /^FROM node:24 AS native$/m, 'the full image: a C compiler and Node\'s N-API header, the slim one\'s Debian and glibc')
  const out = /^RUN node scripts\/build-native\.mjs (\S+)$/m.exec(native)?.[1]
  t.ok(out !== undefined, 'scripts/build-native.mjs builds it (test/server/idle-reclaimer.test.ts builds and loads it)')
  const runtime = STAGES.get('runtime') ?? ''
  const copy = /^COPY --from=native (\S+) (\S+)$/m.exec(runtime)
  t.equal(copy?.[1], `${out}/malloc-trim.node`, 'the file the script writes (<out-dir>/malloc-trim.node)')
  t.equal(/^WORKDIR (\S+)$/m.exec(runtime)?.[1], '/app')
  t.equal(/^ENV SLUICE_MALLOC_TRIM_ADDON=(\S+)$/m.exec(runtime)?.[1], join('/app', copy?.[2] ?? ''), 'the env names where it was copied')
  t.notMatch(runtime, /COPY --from=native \S+\/(src|scripts)/, 'no source or compiler output but the addon')
  t.ok(runtime.indexOf('SLUICE_MALLOC_TRIM_ADDON') < runtime.indexOf('USER 1000:1000'), 'set in the stage both targets start from')
})

t.test('SERVING_LOGGING_LEVEL as Knative sets it: empty unless configured, zap names', async (t) => {
  const base = { SERVING_LOGGING_LEVEL: '' }
  t.equal(loadSidecarConfig([], base).config?.logLevel, 'info', 'empty (no loglevel.queueproxy) = info')
  t.equal(loadSidecarConfig([], { SERVING_LOGGING_LEVEL: 'debug' }).config?.logLevel, 'debug')
  t.equal(loadSidecarConfig([], { SERVING_LOGGING_LEVEL: 'dpanic' }).config?.logLevel, 'error')
  t.equal(loadSidecarConfig([], { SERVING_LOGGING_LEVEL: 'panic' }).config?.logLevel, 'fatal')
  t.same(loadSidecarConfig([], { SERVING_LOGGING_LEVEL: 'loud' }).problems,
    ['config: --log-level / SERVING_LOGGING_LEVEL must be one of trace|debug|info|warn|error|fatal|silent|dpanic|panic, got "loud"'])
})
