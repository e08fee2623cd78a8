import { strOf, type OptionSpec, type OptionValue } from './options.ts'

/**
 * --upgrade-timeouts (both modes): how a revision's timeouts apply to websockets and other upgrades.
 * 'knative' (default): they end the connection too, counted from the request's start, as Knative's
 * timeout handler ends hijacked connections; 'handshake': they bound the handshake only (Knative
 * issues 16169, 16638). Enforced by proxy/tunnel-deadline.ts.
 */
export type UpgradeTimeouts = 'knative' | 'handshake'

export const UPGRADE_TIMEOUTS_OPTION: OptionSpec = {
  flag: 'upgrade-timeouts',
  env: '',
  kind: 'string',
  choices: ['knative', 'handshake'],
  default: 'knative',
  help: 'how the revision\'s timeouts apply to websockets and other upgrades: knative (they end the connection too, counted from the request\'s start, as Knative does) or handshake (they bound the handshake only; Knative issues 16169, 16638)',
}

export function upgradeTimeoutsOf (values: Map<string, OptionValue>): UpgradeTimeouts {
  return strOf(values, 'upgrade-timeouts', 'knative') === 'handshake' ? 'handshake' : 'knative'
}
