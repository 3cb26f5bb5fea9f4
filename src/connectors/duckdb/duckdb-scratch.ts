// A scratch DuckDB database for `backfill bench`: a file of its own holding the target table.

import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ScratchTarget, TargetVariant } from '../scratch-target.js';
import type { DuckdbTargetConfig } from './duckdb-config.js';

export class DuckdbScratch implements ScratchTarget<DuckdbTargetConfig> {
  readonly target: DuckdbTargetConfig;

  constructor(real: DuckdbTargetConfig, dir: string) {
    // The table is created from the transform's output, as the real target creates it.
    this.target = { ...real, database: join(dir, 'scratch.duckdb'), create: true };
  }

  async reset(): Promise<void> {
    rmSync(this.target.database, { force: true });
    rmSync(`${this.target.database}.wal`, { force: true });
  }

  async size(): Promise<number> {
    try {
      return statSync(this.target.database).size;
    } catch {
      return 0;
    }
  }

  variants(): readonly TargetVariant<DuckdbTargetConfig>[] {
    return [];
  }

  async drop(): Promise<void> {
    await this.reset();
  }

  describe(): string {
    return 'a scratch DuckDB database';
  }
}
