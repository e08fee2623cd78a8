// Every config-autoscaler key with valid and invalid values, and Knative's config_test.go table.
import t from 'tap'
import {
  AUTOSCALER_CONFIG_KEYS, DEFAULT_AUTOSCALER_CONFIG, parseAutoscalerConfig, unknownAutoscalerConfigKeys,
  type AutoscalerConfig,
} from '../../src/autoscaler/autoscaler-config.ts'

type Data = Record<string, string>

/** The assertions the helpers use; any tap Test provides them. */
type Asserts = Pick<typeof t, 'equal' | 'fail'>

function ok (t: Asserts, data: Data): AutoscalerConfig {
  const r = parseAutoscalerConfig(data)
  if (r.config === null) {
    t.fail(`unexpected problems: ${r.problems.join('; ')}`)
    return DEFAULT_AUTOSCALER_CONFIG
  }
  t.equal(r.problems, null)
  return r.config
}

function problems (data: Data): readonly string[] {
  const r = parseAutoscalerConfig(data)
  return r.problems ?? []
}

t.test('defaults (Knative defaultConfig)', async (t) => {
  const c = ok(t, {})
  t.same(c, {
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
    podAutoscalerClass: 'kpa.autoscaling.knative.dev',
  })
  t.ok(Object.isFrozen(c))
})

// One row per key: values that parse (with the typed field they set) and values that are rejected.
interface KeyCase {
  key: string
  valid: Array<[raw: string, field: keyof AutoscalerConfig, value: unknown, extra?: Data]>
  invalid: Array<[raw: string, extra?: Data]>
}

const KEY_CASES: KeyCase[] = [
  {
    key: 'enable-scale-to-zero',
    valid: [['false', 'enableScaleToZero', false], ['TRUE', 'enableScaleToZero', true], ['0', 'enableScaleToZero', false], ['t', 'enableScaleToZero', true]],
    invalid: [['yes'], [''], [' true']],
  },
  {
    key: 'container-concurrency-target-percentage',
    valid: [
      ['0.71', 'containerConcurrencyTargetFraction', 0.71],
      ['55', 'containerConcurrencyTargetFraction', 0.55],
      ['100', 'containerConcurrencyTargetFraction', 1],
      ['1', 'containerConcurrencyTargetFraction', 1],
    ],
    invalid: [['-42'], ['0'], ['142.4'], ['seventy'], ['NaN']],
  },
  {
    key: 'container-concurrency-target-default',
    valid: [['10.5', 'containerConcurrencyTargetDefault', 10.5], ['1', 'containerConcurrencyTargetDefault', 1]],
    // 1 x 0.001 < 0.01 (TU*CC < 0.01).
    invalid: [['0.001', { 'container-concurrency-target-percentage': '1' }], ['abc'], ['-5']],
  },
  {
    key: 'requests-per-second-target-default',
    valid: [['10.11', 'rpsTargetDefault', 10.11], ['0.01', 'rpsTargetDefault', 0.01]],
    invalid: [['-5.25'], ['0.001'], ['x']],
  },
  {
    key: 'target-burst-capacity',
    valid: [['12345', 'targetBurstCapacity', 12345], ['0', 'targetBurstCapacity', 0], ['-1', 'targetBurstCapacity', -1]],
    invalid: [['-11'], ['-0.5'], ['lots']],
  },
  {
    key: 'stable-window',
    valid: [['5m', 'stableWindowMs', 300_000], ['6s', 'stableWindowMs', 6_000], ['1h', 'stableWindowMs', 3_600_000], ['1m30s', 'stableWindowMs', 90_000]],
    invalid: [['1h1s'], ['1s'], ['61984ms'], ['not a duration'], ['60']],
  },
  {
    key: 'panic-window-percentage',
    valid: [['10', 'panicWindowPercentage', 10], ['1', 'panicWindowPercentage', 1], ['100', 'panicWindowPercentage', 100], ['5.5', 'panicWindowPercentage', 5.5]],
    invalid: [['0.1'], ['110'], ['ten']],
  },
  {
    key: 'panic-threshold-percentage',
    // Knative does not range-check this key (only the annotation).
    valid: [['200', 'panicThresholdPercentage', 200], ['150.5', 'panicThresholdPercentage', 150.5]],
    invalid: [['high'], ['']],
  },
  {
    key: 'max-scale-up-rate',
    valid: [['1.01', 'maxScaleUpRate', 1.01], ['1.001', 'maxScaleUpRate', 1.001], ['Inf', 'maxScaleUpRate', Infinity]],
    invalid: [['1'], ['0.5'], ['not a float']],
  },
  {
    key: 'max-scale-down-rate',
    valid: [['3.0', 'maxScaleDownRate', 3], ['1.5', 'maxScaleDownRate', 1.5]],
    invalid: [['1'], ['-55'], ['fast']],
  },
  {
    key: 'scale-to-zero-grace-period',
    valid: [['33s', 'scaleToZeroGracePeriodMs', 33_000], ['1500ms', 'scaleToZeroGracePeriodMs', 1_500], ['2m', 'scaleToZeroGracePeriodMs', 120_000]],
    invalid: [['0s'], ['-1s'], ['30']],
  },
  {
    key: 'scale-to-zero-pod-retention-period',
    valid: [['2m3s', 'scaleToZeroPodRetentionPeriodMs', 123_000], ['0', 'scaleToZeroPodRetentionPeriodMs', 0], ['250ms', 'scaleToZeroPodRetentionPeriodMs', 250]],
    invalid: [['-4m11s'], ['forever']],
  },
  {
    key: 'scale-down-delay',
    valid: [['15m', 'scaleDownDelayMs', 900_000], ['0s', 'scaleDownDelayMs', 0], ['2s', 'scaleDownDelayMs', 2_000]],
    invalid: [['-1m23s'], ['61984ms'], ['1.5s'], ['soon']],
  },
  {
    key: 'initial-scale',
    valid: [['3', 'initialScale', 3], ['0', 'initialScale', 0, { 'allow-zero-initial-scale': 'true' }]],
    invalid: [['0'], ['-1'], ['invalid'], ['1.5'], ['2147483648']],
  },
  {
    key: 'allow-zero-initial-scale',
    valid: [['true', 'allowZeroInitialScale', true], ['false', 'allowZeroInitialScale', false]],
    invalid: [['invalid']],
  },
  {
    key: 'min-scale',
    valid: [['4', 'minScale', 4], ['1', 'minScale', 1, { 'max-scale': '2' }], ['0', 'minScale', 0]],
    invalid: [['-1'], ['4', { 'max-scale': '3' }], ['one']],
  },
  {
    key: 'max-scale',
    valid: [['10', 'maxScale', 10], ['0', 'maxScale', 0], ['10', 'maxScale', 10, { 'max-scale-limit': '11' }]],
    invalid: [['-1'], ['10', { 'max-scale-limit': '9' }], ['many']],
  },
  {
    key: 'max-scale-limit',
    valid: [['11', 'maxScaleLimit', 11, { 'max-scale': '10' }], ['0', 'maxScaleLimit', 0]],
    // A limit needs a default max-scale within it; negative limits are invalid.
    invalid: [['-9'], ['11'], ['11', { 'max-scale': '0' }], ['lots']],
  },
  {
    key: 'activator-capacity',
    valid: [['905', 'activatorCapacity', 905], ['1', 'activatorCapacity', 1]],
    invalid: [['0.95'], ['0'], ['big']],
  },
  {
    key: 'pod-autoscaler-class',
    valid: [['some.class', 'podAutoscalerClass', 'some.class'], [' hpa.autoscaling.knative.dev ', 'podAutoscalerClass', 'hpa.autoscaling.knative.dev']],
    invalid: [],
  },
]

t.test('every config key is covered', async (t) => {
  t.same(new Set(KEY_CASES.map((c) => c.key)), new Set(AUTOSCALER_CONFIG_KEYS))
})

for (const kc of KEY_CASES) {
  t.test(kc.key, async (t) => {
    for (const [raw, field, value, extra] of kc.valid) {
      const c = ok(t, { ...extra, [kc.key]: raw })
      t.equal(c[field], value, `${JSON.stringify(raw)} -> ${field} = ${String(value)}`)
    }
    for (const [raw, extra] of kc.invalid) {
      const p = problems({ ...extra, [kc.key]: raw })
      t.ok(p.length > 0, `${JSON.stringify(raw)} is rejected`)
      t.ok(p.some((line) => line.includes(kc.key)), `the problem names ${kc.key}: ${p.join(' | ')}`)
    }
  })
}

t.test('Knative TestNewConfig table', async (t) => {
  t.test('overridden', async (t) => {
    const c = ok(t, {
      'enable-scale-to-zero': 'true',
      'max-scale-down-rate': '3.0',
      'max-scale-up-rate': '1.01',
      'container-concurrency-target-percentage': '0.71',
      'container-concurrency-target-default': '10.5',
      'requests-per-second-target-default': '10.11',
      'target-burst-capacity': '12345',
      'scale-down-delay': '15m',
      'stable-window': '5m',
      'tick-interval': '2s',
      'panic-window-percentage': '10',
      'panic-threshold-percentage': '200',
      'pod-autoscaler-class': 'some.class',
      'activator-capacity': '905',
      'scale-to-zero-pod-retention-period': '2m3s',
    })
    t.same(c, {
      ...DEFAULT_AUTOSCALER_CONFIG,
      targetBurstCapacity: 12345,
      containerConcurrencyTargetDefault: 10.5,
      containerConcurrencyTargetFraction: 0.71,
      rpsTargetDefault: 10.11,
      maxScaleDownRate: 3,
      maxScaleUpRate: 1.01,
      scaleDownDelayMs: 900_000,
      stableWindowMs: 300_000,
      activatorCapacity: 905,
      podAutoscalerClass: 'some.class',
      scaleToZeroPodRetentionPeriodMs: 123_000,
    })
  })
  t.test('minimum', async (t) => {
    const c = ok(t, {
      'max-scale-up-rate': '1.001',
      'container-concurrency-target-percentage': '0.5',
      'container-concurrency-target-default': '10.0',
      'target-burst-capacity': '0',
      'stable-window': '5m',
      'tick-interval': '2s',
      'panic-window-percentage': '10',
      'panic-threshold-percentage': '200',
      'activator-capacity': '1',
    })
    t.same(c, {
      ...DEFAULT_AUTOSCALER_CONFIG,
      containerConcurrencyTargetFraction: 0.5,
      containerConcurrencyTargetDefault: 10,
      maxScaleUpRate: 1.001,
      targetBurstCapacity: 0,
      stableWindowMs: 300_000,
      activatorCapacity: 1,
    })
  })
  const invalid: Array<[string, Data]> = [
    ['malformed float', { 'max-scale-up-rate': 'not a float' }],
    ['panic window percentage too big', { 'stable-window': '12s', 'panic-window': '3s', 'panic-window-percentage': '110' }],
    ['grace window too small', { 'stable-window': '12s', 'scale-to-zero-grace-period': '0s' }],
    ['prohibited default initial scale', { 'allow-zero-initial-scale': 'false', 'initial-scale': '0' }],
    ['max scale limit and zero default max scale', { 'max-scale': '0', 'max-scale-limit': '11' }],
  ]
  for (const [name, data] of invalid) t.ok(problems(data).length > 0, name)
  t.same(ok(t, { 'enable-scale-to-zero': 'false', 'scale-to-zero-grace-period': '33s', 'min-scale': '1', 'max-scale': '2' }), {
    ...DEFAULT_AUTOSCALER_CONFIG, enableScaleToZero: false, scaleToZeroGracePeriodMs: 33_000, minScale: 1, maxScale: 2,
  }, 'explicit grace period')
})

t.test('reports every problem, one line each naming the key', async (t) => {
  const p = problems({
    'stable-window': '61984ms',
    'max-scale-up-rate': '1',
    'target-burst-capacity': '-11',
    'enable-scale-to-zero': 'maybe',
  })
  t.equal(p.length, 4)
  t.ok(p.every((line) => line.startsWith('config-autoscaler: ') && !line.includes('\n')))
  t.ok(p.some((line) => line === 'config-autoscaler: stable-window must be specified with at most second precision, got "61984ms"'))
  t.ok(p.some((line) => line === 'config-autoscaler: enable-scale-to-zero must be a boolean (true/false), got "maybe"'))
})

t.test('unknown keys are ignored, but can be listed', async (t) => {
  const data = { 'stable-windw': '10s', 'tick-interval': '2s', _example: '...', 'stable-window': '10s' }
  t.equal(ok(t, data).stableWindowMs, 10_000)
  t.same(unknownAutoscalerConfigKeys(data), ['stable-windw', 'tick-interval'])
})
