import { KubernetesSource, type KubernetesSourceOptions } from '../../../src/activator/sources/kubernetes.ts'
import { silentLogger } from '../../../src/shared/logger.ts'
import { FakeKubeApi, type FakeKubeApiOptions } from './fake-kube-api.ts'

// A started fake API server and a Kubernetes source pointed at it, both closed at teardown; fast
// relist backoff and no jitter so the tests' timing is short and exact.

export interface Teardown { teardown (fn: () => unknown): void }

export async function startFakeKubeApi (t: Teardown, opts: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const api = new FakeKubeApi(opts)
  await api.start()
  t.teardown(() => api.close())
  return api
}

export function kubeSource (t: Teardown, api: FakeKubeApi, opts: Partial<KubernetesSourceOptions> = {}): KubernetesSource {
  const s = new KubernetesSource({
    kubeConfig: api.url,
    logger: silentLogger(),
    backoff: { initialMs: 10, maxMs: 40 },
    random: () => 0.5,
    ...opts,
  })
  t.teardown(() => s.close())
  return s
}
