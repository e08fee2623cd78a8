// Everything a scrape needs about the last closed period, serialized once when the period closes, so a
// scrape copies bytes and computes nothing (Knative's reporter stores the Stat and marshals per scrape; we
// marshal once per period since scrapes from several autoscaler replicas can outnumber periods).

import { renderQueueMetrics } from './prometheus-text.ts'
import type { LabeledStat } from './stat.ts'
import { encodeStat } from './stat-proto.ts'
import { renderStatsJson } from './stats-json.ts'

export interface StatSnapshot {
  readonly entries: readonly LabeledStat[]
  /**
   * Serialized `metrics.Stat` when there is exactly one entry (a pod's own stat, what Knative's autoscaler
   * scrapes); null otherwise, since the scrape protocol carries one Stat per response.
   */
  readonly protobuf: Buffer | null
  /** Knative queue gauges in Prometheus text. */
  readonly prometheus: Buffer
  /** The `stats` array of the JSON schema (stats-json.ts). */
  readonly statsJson: Buffer
}

export function buildStatSnapshot (entries: readonly LabeledStat[]): StatSnapshot {
  const only = entries.length === 1 ? entries[0] : undefined
  return Object.freeze({
    entries,
    protobuf: only === undefined ? null : encodeStat(only.stat),
    prometheus: Buffer.from(renderQueueMetrics(entries), 'utf8'),
    statsJson: Buffer.from(renderStatsJson(entries), 'utf8'),
  })
}
