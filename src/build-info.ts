import { readFileSync } from 'node:fs';

/** What `kubeprism version` prints and the `kubeprism_build_info` metric carries. */
export interface BuildInfo {
  readonly version: string;
  /** The git commit built, when known at build time. */
  readonly commit: string | null;
  /** Node.js version running (inside the single executable: the one it embeds). */
  readonly node: string;
  /** `os/arch`, e.g. `linux/x64`. */
  readonly platform: string;
}

interface BuildStamp {
  readonly version: string;
  readonly commit: string | null;
}

// Replaced by esbuild's `define` in the single executable (scripts/build-binary.js), where no file can be
// read relative to the bundle; undeclared (typeof "undefined") everywhere else.
declare const __KUBEPRISM_BUILD__: BuildStamp | undefined;

let cached: BuildStamp | undefined;

function stamp(): BuildStamp {
  if (typeof __KUBEPRISM_BUILD__ !== 'undefined') return __KUBEPRISM_BUILD__;
  // The npm build: dist/src/build-info.json, written beside this module by scripts/build-info.js.
  const built = readJson('./build-info.json');
  if (built && typeof built.version === 'string')
    return { version: built.version, commit: typeof built.commit === 'string' ? built.commit : null };
  // Running from the sources (tests: src/), or a dist/ built by tsc alone (dist/src/): the package's
  // own package.json, no commit.
  for (const candidate of ['../package.json', '../../package.json']) {
    const pkg = readJson(candidate);
    if (pkg && pkg.name === 'kubeprism' && typeof pkg.version === 'string') return { version: pkg.version, commit: null };
  }
  return { version: 'unknown', commit: null };
}

function readJson(relative: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** This build's version, commit, Node version and platform. */
export function buildInfo(): BuildInfo {
  cached ??= stamp();
  return { ...cached, node: process.version, platform: `${process.platform}/${process.arch}` };
}
