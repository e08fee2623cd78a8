import t from 'tap'
import { objectRef, parseKnativeRevision, parsePublicEndpointSlice } from '../../../src/activator/sources/kube-objects.ts'
import { endpointSlice, knativeRevision, publicLabels } from './fake-kube-api.ts'

// EndpointSlice parsing is covered in kubernetes.test.ts ("endpoint selection from a slice").

t.test('parseKnativeRevision reads containerConcurrency and the three timeouts', async (t) => {
  const none = { responseStartTimeoutSeconds: null, idleTimeoutSeconds: null, probeOptimisation: true }
  t.same(parseKnativeRevision(knativeRevision('ns', 'r-00001', { containerConcurrency: 3, timeoutSeconds: 120, responseStartTimeoutSeconds: 30, idleTimeoutSeconds: 0 })),
    { namespace: 'ns', name: 'r-00001', containerConcurrency: 3, timeoutSeconds: 120, responseStartTimeoutSeconds: 30, idleTimeoutSeconds: 0, probeOptimisation: true })
  t.same(parseKnativeRevision(knativeRevision('ns', 'r-00001')),
    { namespace: 'ns', name: 'r-00001', containerConcurrency: null, timeoutSeconds: null, ...none }, 'absent -> null')
  t.same(parseKnativeRevision({ metadata: { namespace: 'ns', name: 'r' }, spec: { containerConcurrency: -1, timeoutSeconds: 0, responseStartTimeoutSeconds: -1, idleTimeoutSeconds: -5 } }),
    { namespace: 'ns', name: 'r', containerConcurrency: null, timeoutSeconds: null, ...none }, 'invalid -> null')
  t.same(parseKnativeRevision({ metadata: { namespace: 'ns', name: 'r' }, spec: { containerConcurrency: '2', timeoutSeconds: 1.5, responseStartTimeoutSeconds: '10', idleTimeoutSeconds: 2.5 } }),
    { namespace: 'ns', name: 'r', containerConcurrency: null, timeoutSeconds: null, ...none }, 'wrong types -> null')
  t.same(parseKnativeRevision({ metadata: { namespace: 'ns', name: 'r' } }),
    { namespace: 'ns', name: 'r', containerConcurrency: null, timeoutSeconds: null, ...none }, 'no spec')
  t.equal(parseKnativeRevision({ spec: {} }), null, 'no metadata')
})

t.test('parseKnativeRevision: probe optimisation off when kubelet alone can tell readiness (Knative getOrCreateRevisionWatcher)', async (t) => {
  const cases: Array<[string, unknown, boolean]> = [
    ['no containers', undefined, true],
    ['httpGet readiness probe', [{ image: 'a', readinessProbe: { httpGet: { path: '/' } } }], true],
    ['tcpSocket readiness probe', [{ image: 'a', readinessProbe: { tcpSocket: { port: 8080 } } }], true],
    ['exec readiness probe', [{ image: 'a', readinessProbe: { exec: { command: ['x'] } } }], false],
    ['startup probe', [{ image: 'a', startupProbe: { httpGet: { path: '/' } } }], false],
    ['sidecar with a startup probe', [{ image: 'a', ports: [{ containerPort: 8080 }] }, { image: 's', startupProbe: { exec: { command: ['x'] } } }], false],
    ['sidecar with an exec readiness probe (kubelet only checks it; Knative ignores it here)', [{ image: 'a', ports: [{ containerPort: 8080 }] }, { image: 's', readinessProbe: { exec: { command: ['x'] } } }], true],
    ['serving container is the one with ports', [{ image: 's' }, { image: 'a', ports: [{ containerPort: 8080 }], readinessProbe: { exec: { command: ['x'] } } }], false],
  ]
  for (const [what, containers, want] of cases) {
    const parsed = parseKnativeRevision({ metadata: { namespace: 'ns', name: 'r' }, spec: containers === undefined ? {} : { containers } })
    t.equal(parsed?.probeOptimisation, want, what)
  }
})

t.test('objectRef needs a namespace and a name', async (t) => {
  t.same(objectRef({ metadata: { namespace: 'a', name: 'b' } }), { namespace: 'a', name: 'b' })
  t.equal(objectRef({ metadata: { namespace: '', name: 'b' } }), null)
  t.equal(objectRef({ metadata: { name: 'b' } }), null)
  t.equal(objectRef(null), null)
  t.equal(objectRef('x'), null)
})

t.test('parsePublicEndpointSlice: ready addresses without ports', async (t) => {
  const parse = (obj: unknown): readonly string[] => parsePublicEndpointSlice(obj, 'serving.knative.dev/revision', ['http', 'http2'])?.addresses ?? ['unparsed']
  const labels = publicLabels('r-00001')
  t.same(parsePublicEndpointSlice(endpointSlice('ns', 'r-00001-x', labels, [{ ip: '10.0.0.3' }, { ip: '10.0.0.1' }, { ip: '10.0.0.2' }]), 'serving.knative.dev/revision', ['http']),
    { namespace: 'ns', name: 'r-00001-x', revision: 'r-00001', addresses: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] }, 'sorted')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: '10.0.0.1', ready: false }, { ip: '10.0.0.2', ready: true }, { ip: '10.0.0.3' }])),
    ['10.0.0.2', '10.0.0.3'], 'ready nil counts as ready; ready false is excluded')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: '10.0.0.1', more: ['10.0.0.7'] }, { ip: '10.0.0.1' }])), ['10.0.0.1'], 'first address only, deduplicated')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: 'fd00::1' }], { addressType: 'IPv6' })), ['fd00::1'], 'IPv6 without brackets')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: '10.0.0.1' }], { portName: 'http2', port: 8013 })), ['10.0.0.1'], 'port http2 (any number)')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: '10.0.0.1' }], { portName: 'https' })), [], 'no http/http2 port: none (Knative healthyAddresses)')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: 'a.example' }], { addressType: 'FQDN' })), [], 'FQDN: none')
  t.same(parse(endpointSlice('ns', 's', labels, [{ ip: 'fd00::1' }])), [], 'address of the wrong family: skipped')
  t.equal(parsePublicEndpointSlice(endpointSlice('ns', 's', {}, [{ ip: '10.0.0.1' }]), 'serving.knative.dev/revision', ['http'])?.revision, null, 'no revision label')
  t.equal(parsePublicEndpointSlice({ metadata: { name: 's' } }, 'l', ['http']), null, 'no namespace: skipped')
})
