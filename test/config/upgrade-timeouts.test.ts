// --upgrade-timeouts: one option spec for both modes, read through the shared parser.
import t from 'tap'
import { parseOptions } from '../../src/config/options.ts'
import { UPGRADE_TIMEOUTS_OPTION, upgradeTimeoutsOf } from '../../src/config/upgrade-timeouts.ts'

t.test('knative by default, handshake when asked, anything else refused', async (t) => {
  t.equal(upgradeTimeoutsOf(parseOptions([UPGRADE_TIMEOUTS_OPTION], [], {}).values), 'knative')
  t.equal(upgradeTimeoutsOf(parseOptions([UPGRADE_TIMEOUTS_OPTION], ['--upgrade-timeouts', 'handshake'], {}).values), 'handshake')
  const bad = parseOptions([UPGRADE_TIMEOUTS_OPTION], ['--upgrade-timeouts=never'], {})
  t.same(bad.problems, ['config: --upgrade-timeouts must be one of knative|handshake, got "never"'])
  t.equal(upgradeTimeoutsOf(bad.values), 'knative', 'a refused value reads as the default (the run stops on the problem anyway)')
})
