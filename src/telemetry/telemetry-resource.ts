// The OpenTelemetry resource attributes of each mode, as Knative sets them (no OTel import: the
// values come from the config, the SDK adds its own and OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES).

/** knative.dev/pkg changeset.Get() when the build carries no commit. */
const SERVICE_VERSION = 'unknown'

export interface QueueProxyIdentity {
  readonly namespace: string
  readonly pod: string
  readonly service: string
  readonly configuration: string
  readonly revision: string
}

/** serving pkg/queue/sharedmain/otel.go res(). */
export function queueProxyResource (c: QueueProxyIdentity): Record<string, string> {
  const attrs: Record<string, string> = {
    // semconv.K8SContainerName in knative/pkg writes Go semconv's ContainerName: `container.name`.
    'container.name': 'queue-proxy',
    'k8s.namespace.name': c.namespace,
    'k8s.pod.name': c.pod,
    'service.version': SERVICE_VERSION,
    'service.name': c.service !== '' ? c.service : c.configuration !== '' ? c.configuration : c.revision !== '' ? c.revision : c.pod,
    'service.instance.id': c.pod,
  }
  if (c.service !== '') attrs['kn.service.name'] = c.service
  if (c.configuration !== '') attrs['kn.configuration.name'] = c.configuration
  if (c.revision !== '') attrs['kn.revision.name'] = c.revision
  return attrs
}

/** knative/pkg observability/resource Default("activator"). */
export function activatorResource (systemNamespace: string, pod: string): Record<string, string> {
  const attrs: Record<string, string> = {
    'k8s.namespace.name': systemNamespace,
    'service.version': SERVICE_VERSION,
    'service.name': 'activator',
  }
  if (pod !== '') attrs['k8s.pod.name'] = pod
  return attrs
}
