// emptyStat: the zero Stat a sidecar or an activator reports before its first period closes
// (Knative's autoscaler reads a Stat with every number 0, not an absent one).
import t from 'tap'
import { emptyStat } from '../../src/stats/stat.ts'

t.test('every number is 0 and the pod is named', async (t) => {
  t.same(emptyStat('rev-1-pod'), {
    podName: 'rev-1-pod',
    averageConcurrentRequests: 0,
    averageProxiedConcurrentRequests: 0,
    requestCount: 0,
    proxiedRequestCount: 0,
    processUptime: 0,
    timestamp: 0,
  })
})

t.test('each call returns a fresh object (callers fill it in)', async (t) => {
  const a = emptyStat('p')
  a.requestCount = 5
  t.equal(emptyStat('p').requestCount, 0)
})
