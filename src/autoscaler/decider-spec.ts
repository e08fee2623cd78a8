// Per-revision autoscaling parameters: the cluster `config-autoscaler` values overridden by the
// revision's `autoscaling.knative.dev/*` annotations. Combines what Knative spreads over
// MakeDecider (kpa/resources/decider.go), ResolveMetricTarget (resources/target.go), MakeMetric's
// panic window (resources/metric.go), PodAutoscaler.ScaleBounds / lastPodRetention and
// GetInitialScale, and checks the annotations with the rules of Knative's admission webhook
// (apis/autoscaling/annotation_validation.go), since there is no webhook in front of us: a bad
// annotation is reported when the revision is registered, not silently replaced by a default.

import {
  BUCKET_SIZE_MS, HPA_CLASS, KPA_CLASS, TARGET_MIN, WINDOW_MAX_MS, WINDOW_MIN_MS,
  PANIC_WINDOW_PERCENTAGE_MAX, PANIC_WINDOW_PERCENTAGE_MIN,
  type AutoscalerConfig,
} from './autoscaler-config.ts'
import { isWholeSeconds, nsToMs, parseGoDurationNs, parseGoFloat, parseGoInt32 } from '../go/go-parse.ts'

export type ScalingMetric = 'concurrency' | 'rps'
export type AggregationAlgorithm = 'linear' | 'weighted-exponential'

const G = 'autoscaling.knative.dev'

/**
 * Annotation keys, preferred spelling first, then the legacy camelCase one Knative still reads
 * (kmap.KeyPriority: the first key present wins).
 */
export const AUTOSCALING_ANNOTATIONS = Object.freeze({
  class: Object.freeze([`${G}/class`]),
  metric: Object.freeze([`${G}/metric`]),
  target: Object.freeze([`${G}/target`]),
  targetUtilizationPercentage: Object.freeze([`${G}/target-utilization-percentage`, `${G}/targetUtilizationPercentage`]),
  targetBurstCapacity: Object.freeze([`${G}/target-burst-capacity`, `${G}/targetBurstCapacity`]),
  window: Object.freeze([`${G}/window`]),
  panicWindowPercentage: Object.freeze([`${G}/panic-window-percentage`, `${G}/panicWindowPercentage`]),
  panicThresholdPercentage: Object.freeze([`${G}/panic-threshold-percentage`, `${G}/panicThresholdPercentage`]),
  minScale: Object.freeze([`${G}/min-scale`, `${G}/minScale`]),
  maxScale: Object.freeze([`${G}/max-scale`, `${G}/maxScale`]),
  initialScale: Object.freeze([`${G}/initial-scale`, `${G}/initialScale`]),
  activationScale: Object.freeze([`${G}/activation-scale`]),
  scaleDownDelay: Object.freeze([`${G}/scale-down-delay`, `${G}/scaleDownDelay`]),
  scaleToZeroPodRetentionPeriod: Object.freeze([`${G}/scale-to-zero-pod-retention-period`, `${G}/scaleToZeroPodRetentionPeriod`]),
  metricAggregationAlgorithm: Object.freeze([`${G}/metric-aggregation-algorithm`, `${G}/metricAggregationAlgorithm`]),
})

/** Panic threshold percentage bounds for the annotation (autoscaling.PanicThresholdPercentageMin/Max). */
export const PANIC_THRESHOLD_PERCENTAGE_MIN = 110
export const PANIC_THRESHOLD_PERCENTAGE_MAX = 1000

/** What the decider needs to know about a revision. */
export interface RevisionAutoscalingInput {
  /** Revision `containerConcurrency`; 0 = unlimited. */
  readonly containerConcurrency: number
  readonly annotations?: Readonly<Record<string, string>>
  /**
   * Whether a route sends traffic to the revision (PodAutoscaler Reachability). Unknown counts
   * as reachable, as in Knative. Default true.
   */
  readonly reachable?: boolean
}

/** Resolved per-revision parameters. Windows and delays in ms. */
export interface DeciderSpec {
  // --- Knative's scaling.DeciderSpec ---
  readonly scalingMetric: ScalingMetric
  /** Metric value per pod the autoscaler aims for (total x utilization, >= 0.01). */
  readonly targetValue: number
  /** Metric value one pod can take at most (CC, the default, the target annotation or the RPS default). */
  readonly totalValue: number
  /** 0 = none, -1 = unlimited (activator always in path), else requests of spare capacity. */
  readonly targetBurstCapacity: number
  readonly activatorCapacity: number
  /** Ratio (panic-threshold-percentage / 100) of desired panic pods to ready pods that starts panic. */
  readonly panicThreshold: number
  readonly maxScaleUpRate: number
  readonly maxScaleDownRate: number
  readonly stableWindowMs: number
  readonly scaleDownDelayMs: number
  /** Initial scale (annotation, unless 0 is not allowed, else the config default). */
  readonly initialScale: number
  readonly reachable: boolean
  /** activation-scale; 0 when not set. */
  readonly activationScale: number
  // --- Knative's Metric spec (collector windows) ---
  /** round(stable x panic-window-percentage / 100) to whole seconds, at least 1 s. */
  readonly panicWindowMs: number
  readonly aggregationAlgorithm: AggregationAlgorithm
  // --- PodAutoscaler bounds (scaler.go); reachability is applied by scale-bounds.ts ---
  /** min-scale (annotation or config); ignored while unreachable. */
  readonly minScale: number
  /** max-scale (annotation or config); 0 = unbounded. */
  readonly maxScale: number
  /** scale-to-zero-pod-retention-period (annotation or config); ignored while unreachable. */
  readonly scaleToZeroPodRetentionMs: number
}

/** Exactly one of the two is non-null. */
export type DeciderSpecResult =
  | { readonly spec: DeciderSpec, readonly problems: null }
  | { readonly spec: null, readonly problems: readonly string[] }

interface Found { readonly key: string, readonly value: string }

function lookup (annotations: Readonly<Record<string, string>>, keys: readonly string[]): Found | null {
  for (const key of keys) {
    if (Object.hasOwn(annotations, key)) return { key, value: annotations[key] }
  }
  return null
}

function problem (found: Found, rule: string): string {
  return `annotation ${found.key} ${rule}, got ${JSON.stringify(found.value)}`
}

const A = AUTOSCALING_ANNOTATIONS

/** getIntGE0: absent -> 0; pushes a problem and returns 0 when invalid. */
function intGE0 (annotations: Readonly<Record<string, string>>, keys: readonly string[], problems: string[]): number {
  const f = lookup(annotations, keys)
  if (f === null) return 0
  const v = parseGoInt32(f.value)
  if (v === null || v < 0) {
    problems.push(problem(f, 'must be an integer in [0, 2147483647]'))
    return 0
  }
  return v
}

function checkFloatRange (
  annotations: Readonly<Record<string, string>>, keys: readonly string[], problems: string[],
  ok: (v: number) => boolean, rule: string,
): void {
  const f = lookup(annotations, keys)
  if (f === null) return
  const v = parseGoFloat(f.value)
  if (v === null) problems.push(problem(f, 'must be a number'))
  else if (!ok(v)) problems.push(problem(f, rule))
}

function checkDuration (
  annotations: Readonly<Record<string, string>>, keys: readonly string[], problems: string[],
  minMs: number, maxMs: number, range: string, wholeSeconds: boolean,
): void {
  const f = lookup(annotations, keys)
  if (f === null) return
  const ns = parseGoDurationNs(f.value)
  if (ns === null) {
    problems.push(problem(f, 'must be a duration such as "30s" or "1m30s"'))
    return
  }
  const ms = nsToMs(ns)
  if (ms < minMs || ms > maxMs) problems.push(problem(f, `must be in ${range}`))
  else if (wholeSeconds && !isWholeSeconds(ns)) problems.push(problem(f, 'must be specified with at most second precision'))
}

/**
 * Check autoscaling annotations with Knative's webhook rules (ValidateAnnotations) for a KPA
 * revision. Returns one line per problem; empty when valid.
 *
 * Differences from Knative: any class other than KPA is reported (this is the KPA), and
 * `metric-aggregation-algorithm` is always checked (Knative checks it only when the class
 * annotation is set explicitly, and otherwise falls back to linear).
 */
export function validateAutoscalingAnnotations (
  config: AutoscalerConfig, annotations: Readonly<Record<string, string>>,
): string[] {
  const problems: string[] = []

  const cls = lookup(annotations, A.class)
  const effectiveClass = cls === null ? config.podAutoscalerClass : cls.value
  if (effectiveClass !== KPA_CLASS) {
    const rule = effectiveClass === HPA_CLASS || !effectiveClass.endsWith('.knative.dev')
      ? `must be ${KPA_CLASS} for the KPA autoscaler`
      : 'is not a known autoscaler class'
    problems.push(cls === null
      ? `config-autoscaler: pod-autoscaler-class ${rule}, got ${JSON.stringify(effectiveClass)}`
      : problem(cls, rule))
  }

  // min/max scale (validateMinMaxScale).
  const min = intGE0(annotations, A.minScale, problems)
  const max = intGE0(annotations, A.maxScale, problems)
  const maxFound = lookup(annotations, A.maxScale)
  if (max !== 0 && max < min) {
    problems.push(`annotation ${maxFound?.key ?? A.maxScale[0]} (${max}) is less than min-scale (${min})`)
  }
  if (maxFound !== null && config.maxScaleLimit > 0) {
    if (max > config.maxScaleLimit) problems.push(problem(maxFound, `must be in [1, max-scale-limit (${config.maxScaleLimit})]`))
    if (max === 0) problems.push(problem(maxFound, `must not be 0 (unlimited) when max-scale-limit is ${config.maxScaleLimit}`))
  }
  const act = lookup(annotations, A.activationScale)
  if (act !== null) {
    const v = parseGoInt32(act.value)
    if (v === null) problems.push(problem(act, 'must be an integer'))
    else if (min > v) problems.push(problem(act, `must be at least min-scale (${min})`))
    else if (max < v && max !== 0) problems.push(problem(act, `must be at most max-scale (${max})`))
    else if (v < 2) problems.push(problem(act, 'must be greater than 1'))
  }

  // Floats (validateFloats).
  checkFloatRange(annotations, A.panicWindowPercentage, problems,
    (v) => v >= PANIC_WINDOW_PERCENTAGE_MIN && v <= PANIC_WINDOW_PERCENTAGE_MAX,
    `must be in [${PANIC_WINDOW_PERCENTAGE_MIN}, ${PANIC_WINDOW_PERCENTAGE_MAX}]`)
  checkFloatRange(annotations, A.panicThresholdPercentage, problems,
    (v) => v >= PANIC_THRESHOLD_PERCENTAGE_MIN && v <= PANIC_THRESHOLD_PERCENTAGE_MAX,
    `must be in [${PANIC_THRESHOLD_PERCENTAGE_MIN}, ${PANIC_THRESHOLD_PERCENTAGE_MAX}]`)
  checkFloatRange(annotations, A.target, problems, (v) => v >= TARGET_MIN, `must be at least ${TARGET_MIN}`)
  checkFloatRange(annotations, A.targetUtilizationPercentage, problems, (v) => v >= 1 && v <= 100, 'must be in [1, 100]')
  checkFloatRange(annotations, A.targetBurstCapacity, problems, (v) => v >= 0 || v === -1,
    'must be either non-negative or -1 (for unlimited)')

  // Durations (validateWindow, validateLastPodRetention, validateScaleDownDelay).
  checkDuration(annotations, A.window, problems, WINDOW_MIN_MS, WINDOW_MAX_MS, '[6s, 1h]', true)
  checkDuration(annotations, A.scaleToZeroPodRetentionPeriod, problems, 0, WINDOW_MAX_MS, '[0s, 1h]', false)
  checkDuration(annotations, A.scaleDownDelay, problems, 0, WINDOW_MAX_MS, '[0s, 1h]', true)

  // Metric and algorithm.
  const metric = lookup(annotations, A.metric)
  if (metric !== null && metric.value !== 'concurrency' && metric.value !== 'rps') {
    problems.push(problem(metric, 'must be "concurrency" or "rps" for the KPA'))
  }
  const algo = lookup(annotations, A.metricAggregationAlgorithm)
  if (algo !== null && algo.value !== '' && algo.value !== 'linear' &&
    algo.value !== 'weighted-exponential' && algo.value !== 'weightedExponential') {
    problems.push(problem(algo, 'must be "linear" or "weighted-exponential"'))
  }

  // Initial scale (validateInitialScale).
  const init = lookup(annotations, A.initialScale)
  if (init !== null) {
    const v = parseGoInt32(init.value)
    if (v === null) problems.push(problem(init, 'must be an integer'))
    else if (v < 0) problems.push(problem(init, 'must be at least 0'))
    else if (v === 0 && !config.allowZeroInitialScale) {
      problems.push(problem(init, 'must be at least 1 (0 is not allowed: allow-zero-initial-scale is false)'))
    }
  }
  return problems
}

/**
 * MakeMetric's panic window: stable x percentage / 100, rounded to whole seconds (half away from
 * zero, as Go's Duration.Round), at least one bucket (1 s).
 */
export function computePanicWindowMs (stableWindowMs: number, panicWindowPercentage: number): number {
  const ns = Math.trunc(stableWindowMs * 1e6 * panicWindowPercentage / 100)
  const r = ns % 1e9
  const rounded = r + r < 1e9 ? ns - r : ns + 1e9 - r
  return Math.max(rounded / 1e6, BUCKET_SIZE_MS)
}

/** GetInitialScale: the annotation wins unless it is 0 and zero is not allowed. */
export function resolveInitialScale (config: AutoscalerConfig, annotations: Readonly<Record<string, string>>): number {
  const f = lookup(annotations, A.initialScale)
  const v = f === null ? null : parseGoInt32(f.value)
  if (v === null || (v === 0 && !config.allowZeroInitialScale)) return config.initialScale
  return v
}

function floatAnnotation (annotations: Readonly<Record<string, string>>, keys: readonly string[]): number | null {
  const f = lookup(annotations, keys)
  return f === null ? null : parseGoFloat(f.value)
}

function int32Annotation (annotations: Readonly<Record<string, string>>, keys: readonly string[]): number | null {
  const f = lookup(annotations, keys)
  return f === null ? null : parseGoInt32(f.value)
}

function durationMsAnnotation (annotations: Readonly<Record<string, string>>, keys: readonly string[]): number | null {
  const f = lookup(annotations, keys)
  const ns = f === null ? null : parseGoDurationNs(f.value)
  return ns === null ? null : nsToMs(ns)
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({})

/**
 * Resolve a revision's decider parameters (Knative's MakeDecider plus the metric windows and
 * scale bounds). Returns problems, one line each, if the revision's containerConcurrency or
 * autoscaling annotations are invalid.
 */
export function makeDeciderSpec (config: AutoscalerConfig, revision: RevisionAutoscalingInput): DeciderSpecResult {
  const annotations = revision.annotations ?? EMPTY
  const problems = validateAutoscalingAnnotations(config, annotations)
  const cc = revision.containerConcurrency
  if (!(Number.isInteger(cc) && cc >= 0)) {
    problems.unshift(`revision: containerConcurrency must be an integer >= 0, got ${JSON.stringify(cc)}`)
  }
  if (problems.length > 0) return { spec: null, problems: Object.freeze(problems) }

  const metricFound = lookup(annotations, A.metric)
  const scalingMetric: ScalingMetric = metricFound !== null && metricFound.value === 'rps' ? 'rps' : 'concurrency'

  // ResolveMetricTarget.
  let total: number
  let utilization: number
  if (scalingMetric === 'rps') {
    total = config.rpsTargetDefault
    utilization = config.targetUtilization
  } else {
    total = cc === 0 ? config.containerConcurrencyTargetDefault : cc
    utilization = config.containerConcurrencyTargetFraction
  }
  const annotationTarget = floatAnnotation(annotations, A.target)
  if (annotationTarget !== null) {
    // Never aim above what containerConcurrency lets one pod take.
    total = scalingMetric === 'concurrency' && cc !== 0 ? Math.min(annotationTarget, cc) : annotationTarget
  }
  const tuPercent = floatAnnotation(annotations, A.targetUtilizationPercentage)
  if (tuPercent !== null) utilization = tuPercent / 100
  const targetValue = Math.max(TARGET_MIN, total * utilization)

  const stableWindowMs = durationMsAnnotation(annotations, A.window) ?? config.stableWindowMs
  const panicPct = floatAnnotation(annotations, A.panicWindowPercentage) ?? config.panicWindowPercentage
  const algo = lookup(annotations, A.metricAggregationAlgorithm)
  const aggregationAlgorithm: AggregationAlgorithm =
    algo !== null && (algo.value === 'weighted-exponential' || algo.value === 'weightedExponential')
      ? 'weighted-exponential'
      : 'linear'

  const spec: DeciderSpec = Object.freeze({
    scalingMetric,
    targetValue,
    totalValue: total,
    targetBurstCapacity: floatAnnotation(annotations, A.targetBurstCapacity) ?? config.targetBurstCapacity,
    activatorCapacity: config.activatorCapacity,
    panicThreshold: (floatAnnotation(annotations, A.panicThresholdPercentage) ?? config.panicThresholdPercentage) / 100,
    maxScaleUpRate: config.maxScaleUpRate,
    maxScaleDownRate: config.maxScaleDownRate,
    stableWindowMs,
    scaleDownDelayMs: durationMsAnnotation(annotations, A.scaleDownDelay) ?? config.scaleDownDelayMs,
    initialScale: resolveInitialScale(config, annotations),
    reachable: revision.reachable ?? true,
    activationScale: int32Annotation(annotations, A.activationScale) ?? 0,
    panicWindowMs: computePanicWindowMs(stableWindowMs, panicPct),
    aggregationAlgorithm,
    minScale: int32Annotation(annotations, A.minScale) ?? config.minScale,
    maxScale: int32Annotation(annotations, A.maxScale) ?? config.maxScale,
    scaleToZeroPodRetentionMs: durationMsAnnotation(annotations, A.scaleToZeroPodRetentionPeriod) ??
      config.scaleToZeroPodRetentionPeriodMs,
  })
  return { spec, problems: null }
}
