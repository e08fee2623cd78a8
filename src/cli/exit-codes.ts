/** Process exit codes. 2 = bad usage or configuration, distinct from a crash (1). */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
