import type { IncomingHttpHeaders } from 'node:http'

// How Knative's data plane marks its probes (knative.dev/networking pkg/http/header): one definition
// for the side that sends a probe and the side that recognises it.
//
// | sent by                          | headers                                                      |
// | the kubelet                      | User-Agent `kube-probe/<major>.<minor>`, or K-Kubelet-Probe   |
// | the activator, to a sidecar      | User-Agent Knative-Activator-Probe, K-Network-Probe `queue`   |
// | the autoscaler, to the activator | User-Agent Knative-Autoscaling-Probe, K-Network-Probe `activator` |
// | an ingress                       | K-Network-Probe `probe` and a K-Network-Hash to echo          |

export const KUBE_PROBE_UA_PREFIX = 'kube-probe/'
export const ACTIVATOR_PROBE_UA = 'Knative-Activator-Probe'
export const AUTOSCALING_PROBE_UA = 'Knative-Autoscaling-Probe'

/**
 * Knative's IsKubeletProbe (networking pkg/http/header): the kubelet's user agent, or a non-empty
 * K-Kubelet-Probe (which Knative adds to the kubelet's probes it rewrites). An empty one is not a
 * probe there (`Header.Get(...) != ""`), so such a request is proxied, as by queue-proxy.
 */
export function isKubeletProbe (headers: IncomingHttpHeaders): boolean {
  const marked = headers['k-kubelet-probe']
  if (marked !== undefined && marked !== '') return true
  const ua = headers['user-agent']
  return ua !== undefined && ua.startsWith(KUBE_PROBE_UA_PREFIX)
}
