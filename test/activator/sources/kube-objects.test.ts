import t from 'tap'
import { objectRef, parseKnativeRevision, parsePublicEndpointSlice } from '../../../src/activator/sources/kube-objects.ts'
import { endpointSlice, knativeRevision, publicLabels } from './fake-kube-api.ts'

// EndpointSlice parsing is covered in kubernetes.test.ts ("endpoint selection from a slice").

t.test('parseKnativeRevision reads containerConcurrency and the three timeouts', async (t) => {
  const none = { responseStartTimeoutSeconds: null, idleTimeoutSeconds: null }
  t.same(parseKnativeRevision(knativeRevision('ns', 'r-00001', { containerConcurrency: 3, timeoutSeconds: 120, responseStartTimeoutSeconds: 30, idleTimeoutSeconds: 0 })),
    { namespace: 'ns', name: 'r-00001', containerConcurrency: 3, timeoutSeconds: 120, responseStartTimeoutSeconds: 30, idleTimeoutSeconds: 0 })
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
