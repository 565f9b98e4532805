// Writes dist/src/build-info.json ({version, commit}) for the npm build: src/build-info.ts reads it at
// run time, so an installed package knows its commit without git. Runs after tsc in `npm run build`.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildStamp, ROOT } from './build-stamp.js';

const file = path.join(ROOT, 'dist', 'src', 'build-info.json');
mkdirSync(path.dirname(file), { recursive: true });
writeFileSync(file, `${JSON.stringify(buildStamp())}\n`);
