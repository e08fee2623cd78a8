import { STATUS_CODES as NODE_STATUS_CODES } from 'node:http'
import t from 'tap'
import { STATUS_CODES } from '../../src/shared/status-codes.ts'

t.test('the reason phrases are node:http\'s', async (t) => {
  t.same({ ...STATUS_CODES }, { ...NODE_STATUS_CODES })
})
