// Per-revision annotation overrides -> DeciderSpec (Knative's MakeDecider, ResolveMetricTarget,
// MakeMetric panic window, GetInitialScale) and the webhook's annotation rules.
import t from 'tap'
import { DEFAULT_AUTOSCALER_CONFIG, parseAutoscalerConfig, type AutoscalerConfig } from '../../src/autoscaler/autoscaler-config.ts'
import {
  computePanicWindowMs, makeDeciderSpec, resolveInitialScale, validateAutoscalingAnnotations,
  type DeciderSpec, type RevisionAutoscalingInput,
} from '../../src/autoscaler/decider-spec.ts'

const A = 'autoscaling.knative.dev/'

function cfg (data: Record<string, string> = {}): AutoscalerConfig {
  const r = parseAutoscalerConfig(data)
  if (r.config === null) throw new Error(r.problems.join('\n'))
  return r.config
}

function specOf (revision: RevisionAutoscalingInput, config = DEFAULT_AUTOSCALER_CONFIG): DeciderSpec {
  const r = makeDeciderSpec(config, revision)
  if (r.spec === null) throw new Error(r.problems.join('\n'))
  return r.spec
}

function problemsOf (revision: RevisionAutoscalingInput, config = DEFAULT_AUTOSCALER_CONFIG): readonly string[] {
  return makeDeciderSpec(config, revision).problems ?? []
}

t.test('defaults for a CC = 0 revision', async (t) => {
  t.same(specOf({ containerConcurrency: 0 }), {
    scalingMetric: 'concurrency',
    targetValue: 70,
    totalValue: 100,
    targetBurstCapacity: 211,
    activatorCapacity: 100,
    panicThreshold: 2,
    maxScaleUpRate: 1000,
    maxScaleDownRate: 2,
    stableWindowMs: 60_000,
    scaleDownDelayMs: 0,
    initialScale: 1,
    reachable: true,
    activationScale: 0,
    panicWindowMs: 6_000,
    aggregationAlgorithm: 'linear',
    minScale: 0,
    maxScale: 0,
    scaleToZeroPodRetentionMs: 0,
  })
})

t.test('metric target resolution (ResolveMetricTarget)', async (t) => {
  const rows: Array<{ label: string, cc: number, ann?: Record<string, string>, config?: Record<string, string>, target: number, total: number }> = [
    { label: 'CC 10 -> 7', cc: 10, target: 7, total: 10 },
    { label: 'CC 0 -> default 100 x 0.7', cc: 0, target: 70, total: 100 },
    { label: 'CC 1 -> 0.7', cc: 1, target: 0.7, total: 1 },
    { label: 'target annotation with CC 0', cc: 0, ann: { [`${A}target`]: '50' }, target: 35, total: 50 },
    { label: 'target annotation capped at CC', cc: 10, ann: { [`${A}target`]: '50' }, target: 7, total: 10 },
    { label: 'target annotation below CC', cc: 10, ann: { [`${A}target`]: '5' }, target: 3.5, total: 5 },
    { label: 'utilization annotation', cc: 10, ann: { [`${A}target-utilization-percentage`]: '50' }, target: 5, total: 10 },
    { label: 'legacy utilization key', cc: 10, ann: { [`${A}targetUtilizationPercentage`]: '100' }, target: 10, total: 10 },
    { label: 'rps uses the RPS default and 70%', cc: 10, ann: { [`${A}metric`]: 'rps' }, target: 140, total: 200 },
    { label: 'rps target is not capped by CC', cc: 10, ann: { [`${A}metric`]: 'rps', [`${A}target`]: '50' }, target: 35, total: 50 },
    { label: 'target never below 0.01', cc: 0, ann: { [`${A}target`]: '0.01', [`${A}target-utilization-percentage`]: '1' }, target: 0.01, total: 0.01 },
    { label: 'config percentage applies to concurrency', cc: 0, config: { 'container-concurrency-target-percentage': '50', 'container-concurrency-target-default': '10' }, target: 5, total: 10 },
  ]
  for (const row of rows) {
    const s = specOf({ containerConcurrency: row.cc, annotations: row.ann }, cfg(row.config))
    t.equal(s.targetValue, row.target, `${row.label}: target`)
    t.equal(s.totalValue, row.total, `${row.label}: total`)
  }
  t.equal(specOf({ containerConcurrency: 0, annotations: { [`${A}metric`]: 'rps' } }).scalingMetric, 'rps')
  t.equal(specOf({ containerConcurrency: 0, annotations: { [`${A}metric`]: 'concurrency' } }).scalingMetric, 'concurrency')
})

t.test('panic window (MakeMetric)', async (t) => {
  t.equal(computePanicWindowMs(60_000, 10), 6_000)
  t.equal(computePanicWindowMs(6_000, 10), 1_000, '0.6 s rounds to 1 s')
  t.equal(computePanicWindowMs(13_000, 10), 1_000, '1.3 s rounds down')
  t.equal(computePanicWindowMs(15_000, 10), 2_000, '1.5 s rounds half away from zero')
  t.equal(computePanicWindowMs(3_600_000, 1), 36_000)
  t.equal(computePanicWindowMs(6_000, 1), 1_000, 'at least one bucket')
  t.equal(computePanicWindowMs(60_000, 100), 60_000)
  const s = specOf({ containerConcurrency: 0, annotations: { [`${A}window`]: '20s', [`${A}panic-window-percentage`]: '25' } })
  t.equal(s.stableWindowMs, 20_000)
  t.equal(s.panicWindowMs, 5_000)
  t.equal(specOf({ containerConcurrency: 0 }, cfg({ 'stable-window': '6s' })).panicWindowMs, 1_000, 'issue e2e setting: stable 6 s')
})

// Each annotation: valid values and the spec field they set; invalid values that are reported.
interface AnnCase {
  key: string
  valid: Array<[raw: string, field: keyof DeciderSpec, value: unknown, extra?: Record<string, string>]>
  invalid: string[]
}

const ANN_CASES: AnnCase[] = [
  { key: 'target', valid: [['1', 'totalValue', 1], ['2.5', 'targetValue', 1.75]], invalid: ['0.001', '-1', 'ten'] },
  { key: 'target-utilization-percentage', valid: [['100', 'targetValue', 100], ['1', 'targetValue', 1]], invalid: ['0.5', '101', 'most'] },
  { key: 'window', valid: [['6s', 'stableWindowMs', 6_000], ['1h', 'stableWindowMs', 3_600_000], ['2m', 'stableWindowMs', 120_000]], invalid: ['5s', '1h1s', '6500ms', 'long'] },
  { key: 'panic-window-percentage', valid: [['20', 'panicWindowMs', 12_000], ['1', 'panicWindowMs', 1_000], ['100', 'panicWindowMs', 60_000]], invalid: ['0.5', '101', 'x'] },
  { key: 'panic-threshold-percentage', valid: [['150', 'panicThreshold', 1.5], ['110', 'panicThreshold', 1.1], ['1000', 'panicThreshold', 10]], invalid: ['109', '1001', 'x'] },
  { key: 'target-burst-capacity', valid: [['-1', 'targetBurstCapacity', -1], ['0', 'targetBurstCapacity', 0], ['50.5', 'targetBurstCapacity', 50.5]], invalid: ['-2', '-0.5', 'inf-ish'] },
  { key: 'min-scale', valid: [['3', 'minScale', 3], ['0', 'minScale', 0]], invalid: ['-1', '1.5', 'two', '2147483648'] },
  { key: 'max-scale', valid: [['10', 'maxScale', 10], ['0', 'maxScale', 0]], invalid: ['-1', 'ten'] },
  {
    key: 'initial-scale',
    valid: [['3', 'initialScale', 3], ['1', 'initialScale', 1]],
    invalid: ['0', '-1', 'x'], // 0 needs allow-zero-initial-scale
  },
  {
    key: 'activation-scale',
    valid: [['2', 'activationScale', 2], ['5', 'activationScale', 5, { [`${A}min-scale`]: '3', [`${A}max-scale`]: '5' }]],
    invalid: ['1', '0', 'x'],
  },
  { key: 'scale-down-delay', valid: [['15m', 'scaleDownDelayMs', 900_000], ['0s', 'scaleDownDelayMs', 0], ['1h', 'scaleDownDelayMs', 3_600_000]], invalid: ['-1s', '1h1s', '1500ms', 'x'] },
  { key: 'metric', valid: [['rps', 'scalingMetric', 'rps'], ['concurrency', 'scalingMetric', 'concurrency']], invalid: ['cpu', 'memory', ''] },
  {
    key: 'metric-aggregation-algorithm',
    valid: [['linear', 'aggregationAlgorithm', 'linear'], ['weighted-exponential', 'aggregationAlgorithm', 'weighted-exponential'],
      ['weightedExponential', 'aggregationAlgorithm', 'weighted-exponential']],
    invalid: ['exponential', 'LINEAR'],
  },
  {
    key: 'scale-to-zero-pod-retention-period',
    valid: [['2m3s', 'scaleToZeroPodRetentionMs', 123_000], ['0', 'scaleToZeroPodRetentionMs', 0], ['1500ms', 'scaleToZeroPodRetentionMs', 1_500]],
    invalid: ['-1s', '1h1s', 'x'],
  },
]

for (const ac of ANN_CASES) {
  t.test(`annotation ${ac.key}`, async (t) => {
    for (const [raw, field, value, extra] of ac.valid) {
      const s = specOf({ containerConcurrency: 0, annotations: { ...extra, [A + ac.key]: raw } })
      t.equal(s[field], value, `${JSON.stringify(raw)} -> ${field} = ${String(value)}`)
    }
    for (const raw of ac.invalid) {
      const p = problemsOf({ containerConcurrency: 0, annotations: { [A + ac.key]: raw } })
      t.ok(p.length > 0 && p.some((line) => line.includes(A + ac.key)), `${JSON.stringify(raw)} is reported: ${p.join(' | ')}`)
    }
  })
}

t.test('annotations fall back to config values', async (t) => {
  const config = cfg({
    'target-burst-capacity': '-1',
    'panic-threshold-percentage': '300',
    'scale-down-delay': '10s',
    'min-scale': '1',
    'max-scale': '7',
    'scale-to-zero-pod-retention-period': '5s',
    'initial-scale': '2',
    'max-scale-up-rate': '3',
    'max-scale-down-rate': '4',
    'activator-capacity': '50',
  })
  const s = specOf({ containerConcurrency: 0 }, config)
  t.equal(s.targetBurstCapacity, -1)
  t.equal(s.panicThreshold, 3)
  t.equal(s.scaleDownDelayMs, 10_000)
  t.equal(s.minScale, 1)
  t.equal(s.maxScale, 7)
  t.equal(s.scaleToZeroPodRetentionMs, 5_000)
  t.equal(s.initialScale, 2)
  t.equal(s.maxScaleUpRate, 3)
  t.equal(s.maxScaleDownRate, 4)
  t.equal(s.activatorCapacity, 50)
})

t.test('legacy camelCase keys are read; the new spelling wins', async (t) => {
  t.equal(specOf({ containerConcurrency: 0, annotations: { [`${A}minScale`]: '2' } }).minScale, 2)
  t.equal(specOf({ containerConcurrency: 0, annotations: { [`${A}min-scale`]: '3', [`${A}minScale`]: '2' } }).minScale, 3)
  t.equal(specOf({ containerConcurrency: 0, annotations: { [`${A}maxScale`]: '4' } }).maxScale, 4)
  t.equal(specOf({ containerConcurrency: 0, annotations: { [`${A}scaleDownDelay`]: '4s' } }).scaleDownDelayMs, 4_000)
  t.equal(specOf({ containerConcurrency: 0, annotations: { [`${A}panicThresholdPercentage`]: '150' } }).panicThreshold, 1.5)
})

t.test('initial scale (GetInitialScale)', async (t) => {
  const allowZero = cfg({ 'allow-zero-initial-scale': 'true' })
  t.equal(specOf({ containerConcurrency: 0, annotations: { [`${A}initial-scale`]: '0' } }, allowZero).initialScale, 0)
  t.equal(resolveInitialScale(DEFAULT_AUTOSCALER_CONFIG, { [`${A}initial-scale`]: '0' }), 1, 'zero not allowed: config value')
  t.equal(resolveInitialScale(cfg({ 'initial-scale': '3' }), {}), 3)
})

t.test('cross-annotation rules (validateMinMaxScale)', async (t) => {
  const rows: Array<{ label: string, ann: Record<string, string>, config?: Record<string, string>, bad: boolean }> = [
    { label: 'max < min', ann: { [`${A}min-scale`]: '5', [`${A}max-scale`]: '3' }, bad: true },
    { label: 'max 0 with min is fine', ann: { [`${A}min-scale`]: '5', [`${A}max-scale`]: '0' }, bad: false },
    { label: 'max above max-scale-limit', ann: { [`${A}max-scale`]: '20' }, config: { 'max-scale': '5', 'max-scale-limit': '10' }, bad: true },
    { label: 'max 0 with a max-scale-limit', ann: { [`${A}max-scale`]: '0' }, config: { 'max-scale': '5', 'max-scale-limit': '10' }, bad: true },
    { label: 'max within max-scale-limit', ann: { [`${A}max-scale`]: '10' }, config: { 'max-scale': '5', 'max-scale-limit': '10' }, bad: false },
    { label: 'activation below min', ann: { [`${A}min-scale`]: '3', [`${A}activation-scale`]: '2' }, bad: true },
    { label: 'activation above max', ann: { [`${A}max-scale`]: '3', [`${A}activation-scale`]: '4' }, bad: true },
    { label: 'activation within bounds', ann: { [`${A}min-scale`]: '2', [`${A}max-scale`]: '4', [`${A}activation-scale`]: '3' }, bad: false },
  ]
  for (const row of rows) {
    const p = problemsOf({ containerConcurrency: 0, annotations: row.ann }, cfg(row.config))
    t.equal(p.length > 0, row.bad, `${row.label}: ${p.join(' | ')}`)
  }
})

t.test('class: only the KPA is handled', async (t) => {
  t.same(validateAutoscalingAnnotations(DEFAULT_AUTOSCALER_CONFIG, { [`${A}class`]: 'kpa.autoscaling.knative.dev' }), [])
  t.equal(validateAutoscalingAnnotations(DEFAULT_AUTOSCALER_CONFIG, { [`${A}class`]: 'hpa.autoscaling.knative.dev' }).length, 1)
  t.equal(validateAutoscalingAnnotations(DEFAULT_AUTOSCALER_CONFIG, { [`${A}class`]: 'foo.autoscaling.knative.dev' }).length, 1)
  const p = validateAutoscalingAnnotations(cfg({ 'pod-autoscaler-class': 'custom.example.com' }), {})
  t.equal(p.length, 1)
  t.match(p[0], /^config-autoscaler: pod-autoscaler-class/)
})

t.test('containerConcurrency must be an integer >= 0', async (t) => {
  for (const cc of [-1, 1.5, Number.NaN]) {
    t.match(problemsOf({ containerConcurrency: cc }), [/^revision: containerConcurrency must be an integer >= 0/])
  }
})

t.test('reachability', async (t) => {
  t.equal(specOf({ containerConcurrency: 0 }).reachable, true, 'unknown counts as reachable')
  t.equal(specOf({ containerConcurrency: 0, reachable: false }).reachable, false)
})

t.test('reports every problem with the annotation key and value', async (t) => {
  const p = problemsOf({
    containerConcurrency: 0,
    annotations: { [`${A}window`]: '5s', [`${A}metric`]: 'cpu', [`${A}target`]: 'lots' },
  })
  t.same(p, [
    'annotation autoscaling.knative.dev/target must be a number, got "lots"',
    'annotation autoscaling.knative.dev/window must be in [6s, 1h], got "5s"',
    'annotation autoscaling.knative.dev/metric must be "concurrency" or "rps" for the KPA, got "cpu"',
  ])
  t.ok(Object.isFrozen(specOf({ containerConcurrency: 0 })))
})
