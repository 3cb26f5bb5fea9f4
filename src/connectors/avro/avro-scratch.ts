// A scratch Avro lake for `backfill bench`: a folder of its own, compared across codecs.

import { LakeScratch } from '../parquet/parquet-scratch.js';
import type { AvroTargetConfig } from './avro-config.js';

const CODECS = ['deflate', 'snappy', 'null'] as const;

export class AvroScratch extends LakeScratch<AvroTargetConfig, 'codec'> {
  constructor(real: AvroTargetConfig, dir: string) {
    super(real, dir, { key: 'codec', values: CODECS, format: 'Avro' });
  }
}
