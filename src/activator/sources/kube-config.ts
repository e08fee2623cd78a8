// Where the Kubernetes source finds its API server. The config layer decides (it reads the environment);
// this file only turns that decision into a client-node KubeConfig.

import { delimiter, join } from 'node:path'
import { KubeConfig } from '@kubernetes/client-node'
import { ConfigError } from '../../shared/errors.ts'

export interface KubeConfigLocation {
  /**
   * In a pod (KUBERNETES_SERVICE_HOST set): the service account token and CA. client-node reads
   * KUBERNETES_SERVICE_HOST/PORT itself here; nothing else in Sluice does.
   */
  readonly inCluster: boolean
  /** A kubeconfig file (first KUBECONFIG entry, or ~/.kube/config); used when not in cluster. */
  readonly kubeconfigPath: string
}

/**
 * Where to look, from environment values the config layer read (it passes them in; this reads no env):
 * in cluster when KUBERNETES_SERVICE_HOST is set, else the first KUBECONFIG entry, else
 * `<home>/.kube/config`. (kubectl merges every KUBECONFIG entry; we use the first.)
 */
export function kubeConfigLocation (env: { readonly KUBERNETES_SERVICE_HOST?: string, readonly KUBECONFIG?: string }, homeDir: string): KubeConfigLocation {
  const first = (env.KUBECONFIG ?? '').split(delimiter).find((p) => p !== '')
  return {
    inCluster: env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '',
    kubeconfigPath: first ?? join(homeDir, '.kube', 'config'),
  }
}

/** Loads the kubeconfig; a missing or broken file is a ConfigError (exit 2). */
export function loadKubeConfig (location: KubeConfigLocation): KubeConfig {
  const kc = new KubeConfig()
  try {
    if (location.inCluster) kc.loadFromCluster()
    else kc.loadFromFile(location.kubeconfigPath)
  } catch (err) {
    const where = location.inCluster ? 'in-cluster config' : location.kubeconfigPath
    throw new ConfigError([`kubeconfig: cannot load ${where}: ${err instanceof Error ? err.message : String(err)}`])
  }
  if (kc.getCurrentCluster() === null) {
    throw new ConfigError([`kubeconfig: ${location.kubeconfigPath}: no current context/cluster`])
  }
  return kc
}

/**
 * A KubeConfig for a server URL without credentials: `kubectl proxy` (http://127.0.0.1:8001) or a fake
 * API server in tests.
 */
export function kubeConfigForServer (server: string): KubeConfig {
  const kc = new KubeConfig()
  // client-node refuses http:// servers unless skipTLSVerify is set (there is no TLS to verify);
  // https:// servers keep verification on.
  const plainHttp = server.startsWith('http:')
  kc.loadFromClusterAndUser({ name: 'sluice', server, skipTLSVerify: plainHttp }, { name: 'sluice' })
  return kc
}
