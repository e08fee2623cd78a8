// --idle-reclaim-seconds: 60 s by default (Knative's stable window), 0 = off, in ms for the reclaimer.
import t from 'tap'
import { IDLE_RECLAIM_OPTION, idleReclaimMsOf } from '../../src/config/idle-reclaim.ts'
import { parseOptions } from '../../src/config/options.ts'

t.test('default, off, a value, and the bounds', async (t) => {
  const parse = (argv: string[]) => parseOptions([IDLE_RECLAIM_OPTION], argv, {})
  t.equal(idleReclaimMsOf(parse([]).values), 60_000)
  t.equal(idleReclaimMsOf(parse(['--idle-reclaim-seconds', '0']).values), 0)
  t.equal(idleReclaimMsOf(parse(['--idle-reclaim-seconds=5']).values), 5_000)
  t.same(parse(['--idle-reclaim-seconds', '-1']).problems, ['config: --idle-reclaim-seconds must be an integer between 0 and 86400, got "-1"'])
  t.same(parse(['--idle-reclaim-seconds', '86401']).problems.length, 1)
})
