// The settings a change-data-capture job resolves to, whatever system streams the changes.

export interface CdcSettings {
  /** Replication slot (or the system's equivalent position holder). */
  readonly slot: string;
  /** Publication holding the table. */
  readonly publication: string;
  /** `status` warns when the slot's lag exceeds this many bytes. */
  readonly maxLagBytes: number;
  /** A micro-batch ends at the first transaction boundary past this many changes… */
  readonly batchRows: number;
  /** …or this long after its first change. */
  readonly batchWaitMs: number;
  /** The source table, `schema.table`. */
  readonly table: string;
}
