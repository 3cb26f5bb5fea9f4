// A scratch Avro lake for `backfill bench`: a folder of its own, compared across codecs.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ScratchTarget, TargetVariant } from '../scratch-target.js';
import { folderBytes } from '../parquet/parquet-scratch.js';
import type { AvroTargetConfig } from './avro-config.js';

const CODECS = ['deflate', 'null'] as const;

export class AvroScratch implements ScratchTarget<AvroTargetConfig> {
  readonly target: AvroTargetConfig;

  constructor(
    private readonly real: AvroTargetConfig,
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

  variants(): readonly TargetVariant<AvroTargetConfig>[] {
    return CODECS.filter((c) => c !== this.real.codec).map((codec) => ({
      dimension: 'compression', label: `codec ${codec}`, target: { ...this.target, codec }, setting: `target.codec: ${codec}`,
    }));
  }

  async drop(): Promise<void> {
    await this.reset();
  }

  describe(): string {
    return `a scratch Avro lake (${this.real.codec})`;
  }
}
