// A table or query in a DuckDB database file as a source; zone maps let range filters skip row groups.

import { quoteIdent, quoteLiteral, quoteQualified } from '../../core/sql-text.js';
import { columnExpr, nullCondition } from '../../core/chunk.js';
import { duckRangeCondition } from '../../runtime/duckdb-sql.js';
import type { SourceBounds } from '../../core/planner.js';
import { inPlace, type ChunkRead, type OpenedChunk, type Source, type SourceCapabilities } from '../connector.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';
import type { DuckdbSourceConfig } from './duckdb-config.js';
import type { ProfileRequest, SourceProfile } from '../source-profile.js';

export const SOURCE_ALIAS = 'backfill_source';

export class DuckdbSource implements Source {
  readonly capabilities: SourceCapabilities = { prunes: true, cheapBounds: false, copyText: false };

  constructor(private readonly config: DuckdbSourceConfig) {}

  async prepare(conn: DuckConn): Promise<void> {
    await this.attach(conn);
  }

  async attach(conn: DuckConn): Promise<void> {
    await conn.attach(this.config.database, SOURCE_ALIAS, true);
    // Unqualified table names in `query` resolve in the source database.
    await conn.run(`SET search_path = ${quoteLiteral(`${SOURCE_ALIAS}.main,memory.main`)}`);
  }

  fingerprint(): undefined {
    return undefined;
  }

  relation(): string {
    if (this.config.query !== undefined) return `(${this.config.query.trim().replace(/;\s*$/, '')})`;
    return `${quoteIdent(SOURCE_ALIAS)}.${quoteQualified(this.config.table as string)}`;
  }

  async openChunk(read: ChunkRead): Promise<OpenedChunk> {
    return inPlace(this.chunkRelation(read));
  }

  async close(): Promise<void> {}

  async profile(request: ProfileRequest): Promise<SourceProfile> {
    return (await import('./duckdb-profile.js')).profileDuckdb({ database: this.config.database, alias: SOURCE_ALIAS, table: this.config.table }, request);
  }

  chunkRelation(read: ChunkRead): string {
    const col = columnExpr(read, quoteIdent);
    if (read.nulls === true) return `(SELECT * FROM ${this.relation()} WHERE ${nullCondition(read, quoteIdent)})`;
    return `(SELECT * FROM ${this.relation()} WHERE ${duckRangeCondition(col, read.literals)})`;
  }

  knownBounds(): SourceBounds | undefined {
    return undefined;
  }

  describe(): string {
    return `duckdb source ${this.config.database} (${this.config.table ?? 'query'})`;
  }
}
