#!/bin/sh
# The container image's `sluice` (/usr/local/bin/sluice, Dockerfile): node with the target's V8 flags,
# then bin/sluice. $SLUICE_NODE_FLAGS holds flags NODE_OPTIONS refuses (--no-concurrent-recompilation);
# empty in the activator image. Unquoted on purpose: one word per flag.
exec node $SLUICE_NODE_FLAGS /app/bin/sluice "$@"
