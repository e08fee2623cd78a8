// glibc's malloc_trim(0) for Node, as an N-API addon (issue 13). After the idle reclaimer's
// memory-reducing GC (src/server/reduce-memory.ts) what stays over idle RSS is glibc's heap: free
// chunks among live ones, whose pages free() never returns (it only trims the top of the heap).
// malloc_trim(0) gives back the pages of every free chunk (activator after the aborts load: [heap]
// 18.7 -> 5.6 MB, loadtest/results/reclaim-methods-2026-12-06-activator-malloc-trim.txt). Node has no
// way to call it, hence these few lines. N-API is ABI-stable: one build serves every Node >= 12.
// Built by scripts/build-native.mjs; used when --malloc-trim-addon names the built file.
#include <malloc.h>
#include <node_api.h>

// mallocTrim(): true when memory was returned to the system.
static napi_value MallocTrim(napi_env env, napi_callback_info info) {
  (void) info;
  napi_value result;
  napi_get_boolean(env, malloc_trim(0) == 1, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "mallocTrim", NAPI_AUTO_LENGTH, MallocTrim, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "mallocTrim", fn) != napi_ok) return NULL;
  return exports;
}
