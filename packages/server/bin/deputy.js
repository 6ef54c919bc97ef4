#!/usr/bin/env -S node --max-semi-space-size=4 --expose-gc
// The flags on the line above are SERVER_NODE_FLAGS (src/config/node-flags.ts); node-flags.test.ts keeps them equal.
import "../dist/cli/main.js";
