import t from 'tap'
import { inferActivatorSlot } from '../../../src/activator/sources/infer-activator-slot.ts'

t.test('index among the sorted addresses, count = their number (Knative inferIndex)', async (t) => {
  const table: Array<{ addresses: string[], self: string, want: { index: number, count: number } | null, why: string }> = [
    { addresses: ['10.0.0.3', '10.0.0.1', '10.0.0.2'], self: '10.0.0.2', want: { index: 1, count: 3 }, why: 'sorted before indexing' },
    { addresses: ['10.0.0.3', '10.0.0.1', '10.0.0.2'], self: '10.0.0.1', want: { index: 0, count: 3 }, why: 'first' },
    { addresses: ['10.0.0.2'], self: '10.0.0.2', want: { index: 0, count: 1 }, why: 'alone' },
    { addresses: ['10.0.0.2', '10.0.0.10', '10.0.0.9'], self: '10.0.0.9', want: { index: 2, count: 3 }, why: 'string order, as Go: 10.0.0.10 < 10.0.0.2 < 10.0.0.9' },
    { addresses: ['10.0.0.1', '10.0.0.2', '10.0.0.1'], self: '10.0.0.2', want: { index: 1, count: 2 }, why: 'duplicates count once' },
    { addresses: ['fd00::2', 'fd00::1'], self: 'fd00::2', want: { index: 1, count: 2 }, why: 'IPv6' },
    { addresses: ['10.0.0.1', '10.0.0.3'], self: '10.0.0.2', want: null, why: 'not in path' },
    { addresses: [], self: '10.0.0.2', want: null, why: 'no addresses' },
    { addresses: ['10.0.0.1', ''], self: '', want: null, why: 'no POD_IP' },
  ]
  for (const { addresses, self, want, why } of table) t.same(inferActivatorSlot(addresses, self), want, why)
})
