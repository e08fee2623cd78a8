import t from 'tap'
import { objectRef, parseKnativeRevision } from '../../../src/activator/sources/kube-objects.ts'
import { knativeRevision } from './fake-kube-api.ts'

// EndpointSlice parsing is covered in kubernetes.test.ts ("endpoint selection from a slice").

t.test('parseKnativeRevision reads containerConcurrency and timeoutSeconds', async (t) => {
  t.same(parseKnativeRevision(knativeRevision('ns', 'r-00001', { containerConcurrency: 3, timeoutSeconds: 120 })),
    { namespace: 'ns', name: 'r-00001', containerConcurrency: 3, timeoutSeconds: 120 })
  t.same(parseKnativeRevision(knativeRevision('ns', 'r-00001')),
    { namespace: 'ns', name: 'r-00001', containerConcurrency: null, timeoutSeconds: null }, 'absent -> null')
  t.same(parseKnativeRevision({ metadata: { namespace: 'ns', name: 'r' }, spec: { containerConcurrency: -1, timeoutSeconds: 0 } }),
    { namespace: 'ns', name: 'r', containerConcurrency: null, timeoutSeconds: null }, 'invalid -> null')
  t.same(parseKnativeRevision({ metadata: { namespace: 'ns', name: 'r' }, spec: { containerConcurrency: '2', timeoutSeconds: 1.5 } }),
    { namespace: 'ns', name: 'r', containerConcurrency: null, timeoutSeconds: null }, 'wrong types -> null')
  t.same(parseKnativeRevision({ metadata: { namespace: 'ns', name: 'r' } }),
    { namespace: 'ns', name: 'r', containerConcurrency: null, timeoutSeconds: null }, 'no spec')
  t.equal(parseKnativeRevision({ spec: {} }), null, 'no metadata')
})

t.test('objectRef needs a namespace and a name', async (t) => {
  t.same(objectRef({ metadata: { namespace: 'a', name: 'b' } }), { namespace: 'a', name: 'b' })
  t.equal(objectRef({ metadata: { namespace: '', name: 'b' } }), null)
  t.equal(objectRef({ metadata: { name: 'b' } }), null)
  t.equal(objectRef(null), null)
  t.equal(objectRef('x'), null)
})
