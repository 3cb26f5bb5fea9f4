// Bundle the dashboard page (src/dashboard/page) into dist/dashboard/page with esbuild: one script, one stylesheet, no CDN.

import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const source = join(root, 'src', 'dashboard', 'page');
const out = join(root, 'dist', 'dashboard', 'page');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(source, 'main.ts') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  legalComments: 'eof',
  logLevel: 'warning',
});
copyFileSync(join(source, 'index.html'), join(out, 'index.html'));
