// The unit of autoscaling data, field for field Knative's `metrics.Stat` (pkg/autoscaler/metrics/stat.proto,
// checked in here as stat.proto). One Stat describes one reporting period of one pod (or, from an activator,
// of one revision as seen by that activator).

export interface Stat {
  /** Identity of the reporting pod; the autoscaler counts distinct pod names. */
  podName: string
  /** Time-weighted average of in-flight requests over the period (area under the curve / seconds). */
  averageConcurrentRequests: number
  /** The part of averageConcurrentRequests that came through a proxy (`K-Proxy-Request: activator`). */
  averageProxiedConcurrentRequests: number
  /** Requests that arrived in the period, per second of the configured period (so: requests per second). */
  requestCount: number
  /** The part of requestCount that came through a proxy, per second. */
  proxiedRequestCount: number
  /** Seconds since the reporter started. */
  processUptime: number
  /** Unix seconds when the stat was produced; queue-proxy leaves it 0 and the autoscaler fills it on receipt. */
  timestamp: number
}

/** Knative's `WireStatMessage`: a Stat tagged with the revision it belongs to (activator -> autoscaler push). */
export interface WireStatMessage {
  namespace: string
  /** Revision name. */
  name: string
  /** null when the field is absent on the wire; the autoscaler skips such entries. */
  stat: Stat | null
}

/**
 * Knative's Prometheus label set for the queue gauges (`destination_namespace`, `destination_configuration`,
 * `destination_revision`, `destination_pod`).
 */
export interface QueueLabels {
  namespace: string
  configuration: string
  revision: string
  pod: string
}

/** One Stat with its labels: a sidecar has one, an activator one per revision. */
export interface LabeledStat {
  labels: QueueLabels
  stat: Stat
}

/** A Stat with every number 0, the state Knative reports before its first period closes. */
export function emptyStat (podName: string): Stat {
  return {
    podName,
    averageConcurrentRequests: 0,
    averageProxiedConcurrentRequests: 0,
    requestCount: 0,
    proxiedRequestCount: 0,
    processUptime: 0,
    timestamp: 0,
  }
}
