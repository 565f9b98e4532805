// V8 settings of the kubeprism process, set before anything else is loaded: main.ts imports this module
// first, so the npm bin and the single executable (which cannot take node flags) both get them.
import { setFlagsFromString } from 'node:v8';

// The young generation keeps its initial 1 MiB semi-spaces instead of growing to 16 MiB: loading the
// agent allocates enough to grow it to the maximum, which then stays committed for the life of the
// process (about 11 MiB of resident memory). The data path allocates little (pooled read buffers), so
// the small young generation costs it no measurable throughput (see bench/DATA-PATH-WORK.md). Read by
// V8 each time the young generation would grow, so setting it at run time works (unlike
// --max-semi-space-size, which is fixed when the heap is created).
setFlagsFromString('--semi-space-growth-factor=1');
