// Knative's `config-autoscaler` ConfigMap (pkg/autoscaler/config/config.go), parsed once into a
// frozen, typed object with durations in milliseconds. Key names, defaults, value syntax and
// validation rules are Knative's; unlike Knative (which stops at the first error) every problem
// is reported, one readable line each, naming the key.

import { isWholeSeconds, nsToMs, parseGoBool, parseGoDurationNs, parseGoFloat, parseGoInt32 } from '../go/go-parse.ts'

/** Knative's KPA class name (autoscaling.KPA). */
export const KPA_CLASS = 'kpa.autoscaling.knative.dev'
/** Knative's HPA class name (autoscaling.HPA). */
export const HPA_CLASS = 'hpa.autoscaling.knative.dev'

/** Smallest allowed target value (autoscaling.TargetMin). */
export const TARGET_MIN = 0.01
/** Stable window bounds (autoscaling.WindowMin / WindowMax). */
export const WINDOW_MIN_MS = 6_000
export const WINDOW_MAX_MS = 3_600_000
/** Panic window percentage bounds (autoscaling.PanicWindowPercentageMin/Max). */
export const PANIC_WINDOW_PERCENTAGE_MIN = 1
export const PANIC_WINDOW_PERCENTAGE_MAX = 100
/** Metric bucket size (config.BucketSize): one bucket per second. */
export const BUCKET_SIZE_MS = 1_000

export interface AutoscalerConfig {
  /** enable-scale-to-zero */
  readonly enableScaleToZero: boolean
  /** container-concurrency-target-percentage, as a fraction in (0, 1]. */
  readonly containerConcurrencyTargetFraction: number
  /** container-concurrency-target-default: per-pod concurrency target when CC = 0. */
  readonly containerConcurrencyTargetDefault: number
  /** Utilization for metrics other than concurrency (rps). Fixed at 0.7; not a config key in Knative. */
  readonly targetUtilization: number
  /** requests-per-second-target-default */
  readonly rpsTargetDefault: number
  /** target-burst-capacity: 0 = none, -1 = unlimited (activator always in path). */
  readonly targetBurstCapacity: number
  /** activator-capacity: concurrent requests one activator takes, for subsetting. */
  readonly activatorCapacity: number
  /** allow-zero-initial-scale */
  readonly allowZeroInitialScale: boolean
  /** initial-scale */
  readonly initialScale: number
  /** min-scale (default for revisions without the annotation) */
  readonly minScale: number
  /** max-scale (0 = unbounded) */
  readonly maxScale: number
  /** max-scale-limit (0 = no limit) */
  readonly maxScaleLimit: number
  /** max-scale-up-rate (> 1) */
  readonly maxScaleUpRate: number
  /** max-scale-down-rate (> 1) */
  readonly maxScaleDownRate: number
  /** stable-window, ms (6 s .. 1 h, whole seconds) */
  readonly stableWindowMs: number
  /** panic-window-percentage (1 .. 100) of the stable window */
  readonly panicWindowPercentage: number
  /** panic-threshold-percentage */
  readonly panicThresholdPercentage: number
  /** scale-to-zero-grace-period, ms (> 0) */
  readonly scaleToZeroGracePeriodMs: number
  /** scale-to-zero-pod-retention-period, ms (>= 0) */
  readonly scaleToZeroPodRetentionPeriodMs: number
  /** scale-down-delay, ms (>= 0, whole seconds) */
  readonly scaleDownDelayMs: number
  /** pod-autoscaler-class */
  readonly podAutoscalerClass: string
}

/** Knative's defaults (config.go defaultConfig). */
export const DEFAULT_AUTOSCALER_CONFIG: AutoscalerConfig = Object.freeze({
  enableScaleToZero: true,
  containerConcurrencyTargetFraction: 0.7,
  containerConcurrencyTargetDefault: 100,
  targetUtilization: 0.7,
  rpsTargetDefault: 200,
  targetBurstCapacity: 211,
  activatorCapacity: 100,
  allowZeroInitialScale: false,
  initialScale: 1,
  minScale: 0,
  maxScale: 0,
  maxScaleLimit: 0,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
  stableWindowMs: 60_000,
  panicWindowPercentage: 10,
  panicThresholdPercentage: 200,
  scaleToZeroGracePeriodMs: 30_000,
  scaleToZeroPodRetentionPeriodMs: 0,
  scaleDownDelayMs: 0,
  podAutoscalerClass: KPA_CLASS,
})

/** Exactly one of the two is non-null. */
export type AutoscalerConfigResult =
  | { readonly config: AutoscalerConfig, readonly problems: null }
  | { readonly config: null, readonly problems: readonly string[] }

type Kind = 'bool' | 'float' | 'int32' | 'duration' | 'string'

// Every key Knative's NewConfigFromMap reads, in its order.
export const AUTOSCALER_CONFIG_KEYS: readonly string[] = Object.freeze([
  'pod-autoscaler-class',
  'enable-scale-to-zero',
  'allow-zero-initial-scale',
  'max-scale-up-rate',
  'max-scale-down-rate',
  'container-concurrency-target-percentage',
  'container-concurrency-target-default',
  'requests-per-second-target-default',
  'target-burst-capacity',
  'panic-window-percentage',
  'activator-capacity',
  'panic-threshold-percentage',
  'initial-scale',
  'min-scale',
  'max-scale',
  'max-scale-limit',
  'stable-window',
  'scale-down-delay',
  'scale-to-zero-grace-period',
  'scale-to-zero-pod-retention-period',
])

const KIND_TEXT: Readonly<Record<Kind, string>> = {
  bool: 'a boolean (true/false)',
  float: 'a number',
  int32: 'a 32-bit integer',
  duration: 'a duration such as "30s" or "1m30s"',
  string: 'a string',
}

function problem (key: string, rule: string, raw: string | undefined): string {
  return raw === undefined
    ? `config-autoscaler: ${key} ${rule}`
    : `config-autoscaler: ${key} ${rule}, got ${JSON.stringify(raw)}`
}

/**
 * Parse a `config-autoscaler` data map. Missing keys take Knative's defaults; unknown keys are
 * ignored, as Knative does (see `unknownAutoscalerConfigKeys` to warn about typos).
 */
export function parseAutoscalerConfig (data: Readonly<Record<string, string>>): AutoscalerConfigResult {
  const problems: string[] = []
  const d = DEFAULT_AUTOSCALER_CONFIG
  const raw = (key: string): string | undefined => Object.hasOwn(data, key) ? data[key] : undefined

  // Each reader returns the default when the key is absent, or null after recording a problem.
  const bool = (key: string, def: boolean): boolean | null => {
    const s = raw(key)
    if (s === undefined) return def
    const v = parseGoBool(s)
    if (v === null) problems.push(problem(key, `must be ${KIND_TEXT.bool}`, s))
    return v
  }
  const float = (key: string, def: number): number | null => {
    const s = raw(key)
    if (s === undefined) return def
    const v = parseGoFloat(s)
    if (v === null) problems.push(problem(key, `must be ${KIND_TEXT.float}`, s))
    return v
  }
  const int32 = (key: string, def: number): number | null => {
    const s = raw(key)
    if (s === undefined) return def
    const v = parseGoInt32(s)
    if (v === null) problems.push(problem(key, `must be ${KIND_TEXT.int32}`, s))
    return v
  }
  // Durations come back in ns so the whole-second rules can be checked exactly.
  const duration = (key: string, defMs: number): bigint | null => {
    const s = raw(key)
    if (s === undefined) return BigInt(defMs) * 1_000_000n
    const v = parseGoDurationNs(s)
    if (v === null) problems.push(problem(key, `must be ${KIND_TEXT.duration}`, s))
    return v
  }

  const podAutoscalerClass = (raw('pod-autoscaler-class') ?? d.podAutoscalerClass).trim()
  const enableScaleToZero = bool('enable-scale-to-zero', d.enableScaleToZero)
  const allowZeroInitialScale = bool('allow-zero-initial-scale', d.allowZeroInitialScale)
  const maxScaleUpRate = float('max-scale-up-rate', d.maxScaleUpRate)
  const maxScaleDownRate = float('max-scale-down-rate', d.maxScaleDownRate)
  let ccFraction = float('container-concurrency-target-percentage', d.containerConcurrencyTargetFraction)
  const ccDefault = float('container-concurrency-target-default', d.containerConcurrencyTargetDefault)
  const rpsTargetDefault = float('requests-per-second-target-default', d.rpsTargetDefault)
  const targetBurstCapacity = float('target-burst-capacity', d.targetBurstCapacity)
  const panicWindowPercentage = float('panic-window-percentage', d.panicWindowPercentage)
  const activatorCapacity = float('activator-capacity', d.activatorCapacity)
  const panicThresholdPercentage = float('panic-threshold-percentage', d.panicThresholdPercentage)
  const initialScale = int32('initial-scale', d.initialScale)
  const minScale = int32('min-scale', d.minScale)
  const maxScale = int32('max-scale', d.maxScale)
  const maxScaleLimit = int32('max-scale-limit', d.maxScaleLimit)
  const stableWindow = duration('stable-window', d.stableWindowMs)
  const scaleDownDelay = duration('scale-down-delay', d.scaleDownDelayMs)
  const gracePeriod = duration('scale-to-zero-grace-period', d.scaleToZeroGracePeriodMs)
  const retention = duration('scale-to-zero-pod-retention-period', d.scaleToZeroPodRetentionPeriodMs)

  // Percent to fraction: for legacy reasons values in (0, 1] are already fractions.
  if (ccFraction !== null && ccFraction > 1) ccFraction /= 100

  // validate(), rule by rule in Knative's order; cross-key rules only when both keys parsed.
  if (gracePeriod !== null && gracePeriod <= 0n) {
    problems.push(problem('scale-to-zero-grace-period', 'must be positive', raw('scale-to-zero-grace-period')))
  }
  if (scaleDownDelay !== null) {
    if (scaleDownDelay < 0n) {
      problems.push(problem('scale-down-delay', 'cannot be negative', raw('scale-down-delay')))
    } else if (!isWholeSeconds(scaleDownDelay)) {
      problems.push(problem('scale-down-delay', 'must be specified with at most second precision', raw('scale-down-delay')))
    }
  }
  if (retention !== null && retention < 0n) {
    problems.push(problem('scale-to-zero-pod-retention-period', 'cannot be negative', raw('scale-to-zero-pod-retention-period')))
  }
  if (targetBurstCapacity !== null && targetBurstCapacity < 0 && targetBurstCapacity !== -1) {
    problems.push(problem('target-burst-capacity', 'must be either non-negative or -1 (for unlimited)', raw('target-burst-capacity')))
  }
  if (ccFraction !== null && (ccFraction <= 0 || ccFraction > 1)) {
    problems.push(problem('container-concurrency-target-percentage', 'must be in (0, 100]', raw('container-concurrency-target-percentage')))
  } else if (ccFraction !== null && ccDefault !== null && ccFraction * ccDefault < TARGET_MIN) {
    problems.push(`config-autoscaler: container-concurrency-target-percentage (${ccFraction}) x ` +
      `container-concurrency-target-default (${ccDefault}) = ${ccFraction * ccDefault} must be at least ${TARGET_MIN}`)
  }
  if (rpsTargetDefault !== null && rpsTargetDefault < TARGET_MIN) {
    problems.push(problem('requests-per-second-target-default', `must be at least ${TARGET_MIN}`, raw('requests-per-second-target-default')))
  }
  if (activatorCapacity !== null && activatorCapacity < 1) {
    problems.push(problem('activator-capacity', 'must be at least 1', raw('activator-capacity')))
  }
  if (maxScaleUpRate !== null && maxScaleUpRate <= 1) {
    problems.push(problem('max-scale-up-rate', 'must be greater than 1.0', raw('max-scale-up-rate')))
  }
  if (maxScaleDownRate !== null && maxScaleDownRate <= 1) {
    problems.push(problem('max-scale-down-rate', 'must be greater than 1.0', raw('max-scale-down-rate')))
  }
  if (stableWindow !== null) {
    const ms = nsToMs(stableWindow)
    if (ms < WINDOW_MIN_MS || ms > WINDOW_MAX_MS) {
      problems.push(problem('stable-window', 'must be in [6s, 1h]', raw('stable-window')))
    } else if (!isWholeSeconds(stableWindow)) {
      problems.push(problem('stable-window', 'must be specified with at most second precision', raw('stable-window')))
    }
  }
  if (panicWindowPercentage !== null &&
    (panicWindowPercentage < PANIC_WINDOW_PERCENTAGE_MIN || panicWindowPercentage > PANIC_WINDOW_PERCENTAGE_MAX)) {
    problems.push(problem('panic-window-percentage', 'must be in [1, 100]', raw('panic-window-percentage')))
  }
  if (initialScale !== null && allowZeroInitialScale !== null &&
    (initialScale < 0 || (initialScale === 0 && !allowZeroInitialScale))) {
    problems.push(problem('initial-scale', 'must be at least 0 (or at least 1 when allow-zero-initial-scale is false)', raw('initial-scale')))
  }
  if (minScale !== null && minScale < 0) {
    problems.push(problem('min-scale', 'must be at least 0', raw('min-scale')))
  }
  if (maxScale !== null && maxScaleLimit !== null) {
    // A max-scale-limit requires a default max-scale within it.
    const minMaxScale = maxScaleLimit > 0 ? 1 : 0
    if (maxScale < minMaxScale || (maxScaleLimit > 0 && maxScale > maxScaleLimit)) {
      problems.push(problem('max-scale', `must be in [${minMaxScale}, max-scale-limit (${maxScaleLimit})]`, raw('max-scale') ?? String(maxScale)))
    }
  }
  if (maxScaleLimit !== null && maxScaleLimit < 0) {
    problems.push(problem('max-scale-limit', 'must be at least 0', raw('max-scale-limit')))
  }
  if (minScale !== null && maxScale !== null && minScale > maxScale && maxScale > 0) {
    problems.push(`config-autoscaler: min-scale (${minScale}) must be less than max-scale (${maxScale})`)
  }

  if (problems.length > 0 ||
    enableScaleToZero === null || allowZeroInitialScale === null || maxScaleUpRate === null ||
    maxScaleDownRate === null || ccFraction === null || ccDefault === null || rpsTargetDefault === null ||
    targetBurstCapacity === null || panicWindowPercentage === null || activatorCapacity === null ||
    panicThresholdPercentage === null || initialScale === null || minScale === null || maxScale === null ||
    maxScaleLimit === null || stableWindow === null || scaleDownDelay === null || gracePeriod === null ||
    retention === null) {
    return { config: null, problems: Object.freeze(problems) }
  }

  const config: AutoscalerConfig = Object.freeze({
    enableScaleToZero,
    containerConcurrencyTargetFraction: ccFraction,
    containerConcurrencyTargetDefault: ccDefault,
    targetUtilization: d.targetUtilization,
    rpsTargetDefault,
    targetBurstCapacity,
    activatorCapacity,
    allowZeroInitialScale,
    initialScale,
    minScale,
    maxScale,
    maxScaleLimit,
    maxScaleUpRate,
    maxScaleDownRate,
    stableWindowMs: nsToMs(stableWindow),
    panicWindowPercentage,
    panicThresholdPercentage,
    scaleToZeroGracePeriodMs: nsToMs(gracePeriod),
    scaleToZeroPodRetentionPeriodMs: nsToMs(retention),
    scaleDownDelayMs: nsToMs(scaleDownDelay),
    podAutoscalerClass,
  })
  return { config, problems: null }
}

/**
 * Keys in `data` that `parseAutoscalerConfig` does not read (Knative ignores them silently;
 * callers may log them once as a likely typo). Keys starting with `_` (Knative's `_example`)
 * are not reported.
 */
export function unknownAutoscalerConfigKeys (data: Readonly<Record<string, string>>): string[] {
  const known = new Set(AUTOSCALER_CONFIG_KEYS)
  return Object.keys(data).filter((k) => !known.has(k) && !k.startsWith('_'))
}
