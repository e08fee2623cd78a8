// isKubeletProbe against Knative's IsKubeletProbe (networking pkg/http/header/header.go):
// strings.HasPrefix(User-Agent, "kube-probe/") || Header.Get("K-Kubelet-Probe") != "".
import t from 'tap'
import { ACTIVATOR_PROBE_UA, AUTOSCALING_PROBE_UA, isKubeletProbe, KUBE_PROBE_UA_PREFIX } from '../../src/shared/probe-headers.ts'

t.test('the kubelet\'s user agent, or a non-empty K-Kubelet-Probe', async (t) => {
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ['kubelet UA', { 'user-agent': 'kube-probe/1.30' }, true],
    ['bare prefix', { 'user-agent': 'kube-probe/' }, true],
    ['K-Kubelet-Probe', { 'k-kubelet-probe': 'queue' }, true],
    ['K-Kubelet-Probe with another UA', { 'user-agent': 'curl/8', 'k-kubelet-probe': '1' }, true],
    ['empty K-Kubelet-Probe: not a probe (Go: Header.Get(...) != "")', { 'k-kubelet-probe': '' }, false],
    ['prefix elsewhere in the UA', { 'user-agent': 'my kube-probe/1.0' }, false],
    ['case differs (HasPrefix is case-sensitive)', { 'user-agent': 'Kube-Probe/1.30' }, false],
    ['activator probe UA is not the kubelet', { 'user-agent': ACTIVATOR_PROBE_UA }, false],
    ['no headers', {}, false],
  ]
  for (const [name, headers, want] of cases) t.equal(isKubeletProbe(headers), want, name)
})

t.test('the user agents are Knative\'s', async (t) => {
  t.equal(KUBE_PROBE_UA_PREFIX, 'kube-probe/')
  t.equal(ACTIVATOR_PROBE_UA, 'Knative-Activator-Probe')
  t.equal(AUTOSCALING_PROBE_UA, 'Knative-Autoscaling-Probe')
})
