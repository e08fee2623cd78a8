// The request metrics' own aggregation (src/telemetry/request-metrics.ts) against what the SDK's
// explicit-bucket histogram and sums hand an exporter: bucket edges, min/max, cumulative points,
// the cardinality limit's overflow series.
import t from 'tap'
import { ValueType } from '@opentelemetry/api'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { AggregationTemporality, DataPointType, MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics'
import { HistogramFamily, MAX_SERIES, RequestMetricsProducer, SumFamily } from '../../src/telemetry/request-metrics.ts'

class PullReader extends MetricReader {
  protected async onShutdown (): Promise<void> {}
  protected async onForceFlush (): Promise<void> {}
}

const BOUNDS = [0.005, 0.01, 0.025]

t.test('a histogram point is what the SDK\'s explicit-bucket histogram reports for the same values', async (t) => {
  const values = [0.001, 0.005, 0.0051, 0.01, 0.02, 0.5, 0.025]
  // The SDK itself, through an instrument.
  const sdkReader = new PullReader()
  const mp = new MeterProvider({ readers: [sdkReader] })
  const h = mp.getMeter('m').createHistogram('d', { unit: 's', advice: { explicitBucketBoundaries: BOUNDS } })
  for (const v of values) h.record(v, { a: 'x' })
  const sdk = (await sdkReader.collect()).resourceMetrics.scopeMetrics[0]?.metrics[0]
  // Ours, through the producer on a second reader.
  const family = new HistogramFamily({ name: 'd', description: '', unit: 's', valueType: ValueType.DOUBLE }, BOUNDS)
  for (const v of values) (family.get('x') ?? family.add('x', { a: 'x' })).record(v)
  const reader = new PullReader({ metricProducers: [new RequestMetricsProducer(resourceFromAttributes({}), [{ scope: { name: 's' }, families: [family] }])] })
  // A reader needs a MeterProvider to collect from.
  const mp2 = new MeterProvider({ readers: [reader] })
  const ours = (await reader.collect()).resourceMetrics.scopeMetrics[0]?.metrics[0]
  t.equal(ours?.dataPointType, DataPointType.HISTOGRAM)
  t.equal(ours?.aggregationTemporality, AggregationTemporality.CUMULATIVE)
  t.same(ours?.dataPoints[0]?.value, sdk?.dataPoints[0]?.value, 'buckets (inclusive upper bounds), count, sum, min, max')
  t.same(ours?.dataPoints[0]?.attributes, { a: 'x' })
  await mp.shutdown()
  await mp2.shutdown()
})

t.test('past MAX_SERIES attribute sets, values go to one otel.metric.overflow series', async (t) => {
  const family = new SumFamily({ name: 'c', description: '', unit: '{request}', valueType: ValueType.INT }, false)
  for (let i = 0; i < MAX_SERIES + 5; i++) (family.get(`k${i}`) ?? family.add(`k${i}`, { k: i })).value += 1
  t.equal(family.size, MAX_SERIES + 1)
  const data = family.toMetricData([0, 0]) as MetricData
  const overflow = data.dataPoints.find((p) => p.attributes['otel.metric.overflow'] === true)
  t.equal(overflow?.value, 5, 'the five past the limit')
  t.equal(data.dataPoints.filter((p) => p.value === 1).length, MAX_SERIES)
  t.equal(new SumFamily({ name: 'e', description: '', unit: '', valueType: ValueType.INT }, true).toMetricData([0, 0]), null, 'no series, no metric')
})
