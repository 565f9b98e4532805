#!/usr/bin/env node
// V8 flags first, then the CLI: a static import of main.js would load its whole module graph before the
// flags are set (the single executable's bundle runs them in order, so main.ts imports them first too).
import '../dist/src/cli/v8-flags.js';

await import('../dist/src/cli/main.js');
