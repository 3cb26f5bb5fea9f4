// The version `backfill --version` prints, read from package.json so it never drifts from the release.

import { readFileSync } from 'node:fs';

/** package.json sits two levels up from both src/cli/ and dist/cli/. */
export function packageVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  const pkg = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error(`${file.pathname}: no "version" field`);
  return pkg.version;
}
