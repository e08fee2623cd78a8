// Knative's config-network ConfigMap (knative.dev/networking pkg/config), the one key the activator
// reads from it: `mesh-compatibility-mode`. Knative's activator reads config-network once at start
// (cmd/activator/main.go: a Get, not a watch), so Sluice reads it once too (`--network-config-dir`,
// the ConfigMap mounted as files); a change needs a restart, as it does for Knative.
//
// Parsed as NewConfigFromMap's asMode: the value matches enabled, disabled or auto ignoring case;
// absent means auto (defaultConfig); anything else is ignored by Knative, which keeps auto. Sluice
// keeps auto too (refusing to start where Knative starts would break a working cluster) but says so
// in a warning line.

export const MESH_COMPATIBILITY_MODE_KEY = 'mesh-compatibility-mode'
export const NETWORK_KEYS: readonly string[] = [MESH_COMPATIBILITY_MODE_KEY]

/**
 * enabled: always the revision's private ClusterIP service; disabled: always the pods; auto: the pods,
 * unless probing them fails the way a mesh makes it fail and the ClusterIP answers (revision-routing.ts).
 */
export type MeshCompatibilityMode = 'enabled' | 'disabled' | 'auto'
export const MESH_COMPATIBILITY_MODES: readonly MeshCompatibilityMode[] = ['enabled', 'disabled', 'auto']
/** knative.dev/networking defaultConfig. */
export const DEFAULT_MESH_COMPATIBILITY_MODE: MeshCompatibilityMode = 'auto'

/** The mode the ConfigMap's data selects; a value Knative would ignore adds a warning line. */
export function parseNetworkConfigMap (data: ReadonlyMap<string, string>, warnings: string[]): MeshCompatibilityMode {
  const raw = data.get(MESH_COMPATIBILITY_MODE_KEY)
  if (raw === undefined) return DEFAULT_MESH_COMPATIBILITY_MODE
  const lower = raw.toLowerCase()
  for (const mode of MESH_COMPATIBILITY_MODES) if (lower === mode) return mode
  warnings.push(`config-network: ${MESH_COMPATIBILITY_MODE_KEY} ${JSON.stringify(raw.slice(0, 40))} is not enabled, disabled or auto; using ${DEFAULT_MESH_COMPATIBILITY_MODE} (as Knative does)`)
  return DEFAULT_MESH_COMPATIBILITY_MODE
}
