import t from 'tap'
import { isRecord } from '../../src/shared/is-record.ts'

t.test('a JSON/YAML mapping is a record; null, arrays and scalars are not', async (t) => {
  t.ok(isRecord({}))
  t.ok(isRecord({ a: 1 }))
  t.ok(isRecord(JSON.parse('{"kind":"Status"}')))
  for (const v of [null, undefined, [], [1], 'x', 1, true]) t.notOk(isRecord(v), JSON.stringify(v) ?? 'undefined')
})
