// A scratch Parquet lake for `backfill bench`: a folder of its own, compared across compressions.

import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ScratchTarget, TargetVariant } from '../scratch-target.js';
import type { ParquetTargetConfig } from './parquet-config.js';

const CODECS = ['zstd', 'snappy', 'gzip', 'uncompressed'] as const;

export class ParquetScratch implements ScratchTarget<ParquetTargetConfig> {
  readonly target: ParquetTargetConfig;

  constructor(
    private readonly real: ParquetTargetConfig,
    dir: string,
  ) {
    this.target = { ...real, path: join(dir, 'lake') };
  }

  async reset(): Promise<void> {
    rmSync(this.target.path, { recursive: true, force: true });
  }

  async size(): Promise<number> {
    return folderBytes(this.target.path);
  }

  variants(): readonly TargetVariant<ParquetTargetConfig>[] {
    return CODECS.filter((c) => c !== this.real.compression).map((compression) => ({
      dimension: 'compression', label: `compression ${compression}`, target: { ...this.target, compression }, setting: `target.compression: ${compression}`,
    }));
  }

  async drop(): Promise<void> {
    await this.reset();
  }

  describe(): string {
    return `a scratch Parquet lake (${this.real.compression})`;
  }
}

export function folderBytes(path: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(path, e.name);
    total += e.isDirectory() ? folderBytes(p) : statSync(p).size;
  }
  return total;
}
