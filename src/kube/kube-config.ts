// Where the Kubernetes source finds its API server and how it authenticates: what client-go's
// rest.Config holds, resolved as client-go resolves it (rest/config.go InClusterConfig in a pod,
// tools/clientcmd for a kubeconfig file: kubeconfig-file.ts). The config layer decides where to look
// (it reads the environment); this file only reads the files it names.

import { delimiter, join } from 'node:path'
import { ConfigError } from '../shared/errors.ts'
import type { Logger } from '../shared/logger.ts'

/** A kubeconfig `exec` credential plugin (client-go api.ExecConfig), paths already resolved. */
export interface KubeExecConfig {
  readonly command: string
  readonly args: readonly string[]
  readonly env: ReadonlyArray<{ readonly name: string, readonly value: string }>
  /** client.authentication.k8s.io/v1 or v1beta1: the ExecCredential version the plugin speaks. */
  readonly apiVersion: string
  /** Never or IfAvailable (Sluice never has a terminal, so both mean: no stdin). */
  readonly interactiveMode: string
  /** Pass the cluster (server, CA, ...) to the plugin in KUBERNETES_EXEC_INFO. */
  readonly provideClusterInfo: boolean
}

/**
 * The resolved connection, field for field client-go's rest.Config after rest.LoadTLSFiles (the golden
 * test compares the two). '' = not set. Over http:// only `host` is set: client-go reads credentials
 * only for TLS servers.
 */
export interface KubeRestConfig {
  /** Scheme, host, port and an optional path prefix (no query), e.g. https://10.96.0.1:443. */
  readonly host: string
  readonly bearerToken: string
  /** Re-read about every minute when set (service account token rotation); wins over bearerToken then. */
  readonly bearerTokenFile: string
  readonly username: string
  readonly password: string
  /** PEM; '' = the system roots. */
  readonly caData: string
  readonly certData: string
  readonly keyData: string
  readonly insecure: boolean
  /** TLS SNI and the name the server certificate must carry; '' = the host's. */
  readonly serverName: string
  readonly exec: KubeExecConfig | null
}

export const EMPTY_REST_CONFIG: KubeRestConfig = Object.freeze({
  host: '',
  bearerToken: '',
  bearerTokenFile: '',
  username: '',
  password: '',
  caData: '',
  certData: '',
  keyData: '',
  insecure: false,
  serverName: '',
  exec: null,
})

/** Where a pod's service account token and CA are mounted (client-go rest.InClusterConfig). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

export interface KubeConfigLocation {
  /** In a pod (KUBERNETES_SERVICE_HOST set): the service account token and CA are possible. */
  readonly inCluster: boolean
  /** KUBECONFIG names a file: it is used, in a pod too (knative/pkg passes it as the explicit path). */
  readonly explicitKubeconfig: boolean
  /** KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT ('' when unset). */
  readonly serviceHost: string
  readonly servicePort: string
  /** A kubeconfig file (first KUBECONFIG entry, or ~/.kube/config); used when not in cluster. */
  readonly kubeconfigPath: string
}

export interface KubeEnv {
  readonly KUBERNETES_SERVICE_HOST?: string
  readonly KUBERNETES_SERVICE_PORT?: string
  readonly KUBECONFIG?: string
}

/**
 * Where to look, from environment values the config layer read (it passes them in; this reads no env),
 * in client-go's order (DeferredLoadingClientConfig, as knative/pkg's GetRESTConfig sets it up): the
 * first KUBECONFIG entry when set, in a pod too; else `<home>/.kube/config` when that file exists;
 * else in cluster when KUBERNETES_SERVICE_HOST is set; else `<home>/.kube/config` (its absence is the
 * error). (kubectl merges every KUBECONFIG entry; we use the first.)
 */
export function kubeConfigLocation (env: KubeEnv, homeDir: string): KubeConfigLocation {
  const first = (env.KUBECONFIG ?? '').split(delimiter).find((p) => p !== '')
  const serviceHost = env.KUBERNETES_SERVICE_HOST ?? ''
  return {
    inCluster: serviceHost !== '',
    explicitKubeconfig: first !== undefined,
    serviceHost,
    servicePort: env.KUBERNETES_SERVICE_PORT ?? '',
    kubeconfigPath: first ?? join(homeDir, '.kube', 'config'),
  }
}

export interface LoadKubeConfigOptions {
  readonly logger: Logger
  /** Tests: where the service account files are; default SERVICE_ACCOUNT_DIR. */
  readonly serviceAccountDir?: string
}

/** Resolves the location; anything missing, unreadable or unsupported is a ConfigError (exit 2). */
export async function loadKubeConfig (location: KubeConfigLocation, opts: LoadKubeConfigOptions): Promise<KubeRestConfig> {
  const useKubeconfig = location.explicitKubeconfig || !location.inCluster || process.getBuiltinModule('node:fs').existsSync(location.kubeconfigPath)
  if (!useKubeconfig) return inClusterConfig(location.serviceHost, location.servicePort, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR, opts.logger)
  const { resolveKubeconfigFile } = await import('./kubeconfig-file.ts')
  return await resolveKubeconfigFile(location.kubeconfigPath)
}

/**
 * client-go rest.InClusterConfig: https://host:port (an IPv6 host bracketed), the token file (read now,
 * so a pod without one fails at start, and re-read as it rotates) and the CA. A CA that cannot be read
 * is logged and the system roots are used, as client-go does.
 */
export function inClusterConfig (host: string, port: string, serviceAccountDir: string, logger: Logger): KubeRestConfig {
  if (host === '' || port === '') {
    throw new ConfigError(['kubeconfig: in-cluster config needs both KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT'])
  }
  const fs = process.getBuiltinModule('node:fs')
  const tokenFile = join(serviceAccountDir, 'token')
  let bearerToken: string
  try {
    bearerToken = fs.readFileSync(tokenFile, 'utf8')
  } catch (err) {
    throw new ConfigError([`kubeconfig: in-cluster config: cannot read the service account token ${tokenFile}: ${messageOf(err)}`])
  }
  const caFile = join(serviceAccountDir, 'ca.crt')
  let caData = ''
  try {
    caData = fs.readFileSync(caFile, 'utf8')
  } catch (err) {
    logger.error({ err, caFile }, 'kubernetes: cannot read the in-cluster CA; verifying the API server with the system roots')
  }
  const hostPart = host.includes(':') ? `[${host}]` : host
  return { ...EMPTY_REST_CONFIG, host: `https://${hostPart}:${port}`, bearerToken, bearerTokenFile: tokenFile, caData }
}

/** A server URL without credentials: `kubectl proxy` (http://127.0.0.1:8001) or a fake API server in tests. */
export function kubeConfigForServer (server: string): KubeRestConfig {
  return { ...EMPTY_REST_CONFIG, host: server }
}

export function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
