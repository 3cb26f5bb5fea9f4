// A scratch lake for `backfill bench` (Parquet here, Avro beside it): a folder of its own, compared across codecs.

import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ScratchTarget, TargetVariant } from '../scratch-target.js';
import type { ParquetTargetConfig } from './parquet-config.js';

const CODECS = ['zstd', 'snappy', 'gzip', 'uncompressed'] as const;

/** A scratch lake for `backfill bench`: a folder of its own, compared across the values of its codec setting. */
export class LakeScratch<T extends { readonly path: string }, K extends keyof T & string> implements ScratchTarget<T> {
  readonly target: T;

  constructor(
    private readonly real: T,
    dir: string,
    private readonly codec: { readonly key: K; readonly values: readonly T[K][]; readonly format: string },
  ) {
    this.target = { ...real, path: join(dir, 'lake') };
  }

  async reset(): Promise<void> {
    rmSync(this.target.path, { recursive: true, force: true });
  }

  async size(): Promise<number> {
    return folderBytes(this.target.path);
  }

  variants(): readonly TargetVariant<T>[] {
    const { key, values } = this.codec;
    return values.filter((v) => v !== this.real[key]).map((value) => ({
      dimension: 'compression', label: `${key} ${String(value)}`, target: { ...this.target, [key]: value }, setting: `target.${key}: ${String(value)}`,
    }));
  }

  async drop(): Promise<void> {
    await this.reset();
  }

  describe(): string {
    return `a scratch ${this.codec.format} lake (${String(this.real[this.codec.key])})`;
  }
}

export class ParquetScratch extends LakeScratch<ParquetTargetConfig, 'compression'> {
  constructor(real: ParquetTargetConfig, dir: string) {
    super(real, dir, { key: 'compression', values: CODECS, format: 'Parquet' });
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
