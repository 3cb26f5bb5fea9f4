// A column as the engine sees it: its name and DuckDB type, and the source system's own type when known.

export interface ColumnInfo {
  readonly name: string;
  /** DuckDB type name, e.g. BIGINT, TIMESTAMP, DECIMAL(12,2). */
  readonly type: string;
  /** The PostgreSQL type, when the column comes unchanged from a PostgreSQL source (keeps e.g. unconstrained numeric exact). */
  readonly pgType?: string;
}
