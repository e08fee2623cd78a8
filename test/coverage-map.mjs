// tap's coverage map (package.json "tap"."coverage-map"): every test file covers src/ only, so the
// summary that `npm test` prints is the product's coverage, not that of test/, loadtest/ or
// node_modules. tap hands the list to each test process in an environment variable, and child
// processes a test spawns with that environment (bin/sluice, the activator's child) record
// coverage for the same files, so code reached only through a process counts too.
export default function coverageMap () {
  return ['src/**/*.ts']
}
