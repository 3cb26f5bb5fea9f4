// A micro-batch of row changes, collapsed per key to the last operation, and the watermark window
// of the initial copy (DBLog). Pure: no I/O, so the rules can be tested on their own.

/**
 * One row as PostgreSQL text values in the table's column order. `undefined` is an unchanged
 * TOASTed value the stream did not resend: the target keeps what it has.
 */
export type RowText = readonly (string | null | undefined)[];

/** What one target transaction applies: the batch's net effect per key. */
export interface ChangeSet {
  /** The table was truncated in the batch: delete every row before the upserts. */
  readonly truncate: boolean;
  readonly upserts: readonly RowText[];
  /** Key values (in key order) of rows whose last operation in the batch was a delete. */
  readonly deletes: readonly (readonly string[])[];
}

type Pending = { readonly op: 'upsert'; readonly row: RowText } | { readonly op: 'delete'; readonly key: readonly string[] };

/** A map key for a row's key values that two different keys never share. */
export function keyText(values: readonly (string | null | undefined)[]): string {
  return values.length === 1 && typeof values[0] === 'string' ? values[0] : JSON.stringify(values.map((v) => v ?? null));
}

/**
 * A batch as JSON lines for a target that stages it through DuckDB: `op` (`u` upsert, `d` delete),
 * `keep` — the indexes of the columns an update did not resend (unchanged TOASTed values), as the
 * target's SQL wants them — and every column as text (`c0`, `c1`, …). A delete carries its key only.
 */
export function changesAsJsonLines(changes: ChangeSet, keyIdx: readonly number[], width: number, keep: (indexes: readonly number[]) => unknown): string {
  const lines: string[] = [];
  const line = (op: string, row: RowText): void => {
    const kept: number[] = [];
    const record: Record<string, unknown> = { op };
    row.forEach((v, i) => {
      if (v === undefined) kept.push(i);
      record[`c${i}`] = v ?? null;
    });
    record.keep = kept.length === 0 ? null : keep(kept);
    lines.push(JSON.stringify(record));
  };
  for (const row of changes.upserts) line('u', row);
  for (const key of changes.deletes) {
    const row: (string | null)[] = new Array<string | null>(width).fill(null);
    keyIdx.forEach((c, j) => (row[c] = key[j] ?? null));
    line('d', row);
  }
  return `${lines.join('\n')}\n`;
}

export class ChangeBatch {
  private pending = new Map<string, Pending>();
  private truncated = false;
  /** Operations taken in (before collapsing). */
  operations = 0;

  constructor(private readonly keyIndexes: readonly number[]) {}

  get size(): number {
    return this.pending.size;
  }

  get empty(): boolean {
    return this.pending.size === 0 && !this.truncated;
  }

  keyOf(row: RowText): string {
    return keyText(this.keyIndexes.map((i) => row[i]));
  }

  /** An insert or update's new row (or a row of the initial copy). */
  upsert(row: RowText): void {
    const k = this.keyOf(row);
    const before = this.pending.get(k);
    // An update that did not resend a TOASTed value keeps it: from an earlier image in this batch when there is one.
    const full = before?.op === 'upsert' && row.includes(undefined) ? row.map((v, i) => (v === undefined ? before.row[i] : v)) : row;
    this.pending.set(k, { op: 'upsert', row: full });
    this.operations++;
  }

  delete(key: readonly string[]): void {
    this.pending.set(keyText(key), { op: 'delete', key });
    this.operations++;
  }

  truncate(): void {
    this.pending.clear();
    this.truncated = true;
    this.operations++;
  }

  /** The collapsed changes; the batch is empty afterwards. */
  take(): ChangeSet {
    const upserts: RowText[] = [];
    const deletes: (readonly string[])[] = [];
    for (const p of this.pending.values()) {
      if (p.op === 'upsert') upserts.push(p.row);
      else deletes.push(p.key);
    }
    const set = { truncate: this.truncated, upserts, deletes };
    this.pending = new Map();
    this.truncated = false;
    this.operations = 0;
    return set;
  }
}

/**
 * The window of one chunk of the initial copy, between its low and high watermarks in the
 * stream. Every key that changes inside it is newer in the stream than (or as new as) the
 * chunk's read, so the chunk's row for that key is dropped at the high watermark.
 */
export class WatermarkWindow {
  private open = false;
  private truncated = false;
  /** The latest image of each key changed inside the window (null: deleted), collapsed like a batch. */
  private readonly changed = new Map<string, RowText | null>();
  rows: readonly RowText[] | undefined;

  constructor(
    readonly chunkKey: string,
    readonly nonce: string,
  ) {}

  /** The low watermark came through the stream. */
  low(): void {
    this.open = true;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** A change to this key came through the stream: its new row, or null for a delete. */
  saw(key: string, row: RowText | null): void {
    if (!this.open) return;
    const before = this.changed.get(key);
    this.changed.set(key, row !== null && row.includes(undefined) && before != null ? row.map((v, i) => (v === undefined ? before[i] : v)) : row);
  }

  /** The table was truncated inside the window: every row of the chunk read may be gone. */
  sawTruncate(): void {
    if (this.open) this.truncated = true;
  }

  /**
   * At the high watermark: the chunk's rows that no change in the window superseded. A key whose
   * only image in the window lacks an unchanged TOASTed value gets it from the chunk's row (the
   * value did not change, whichever came first), so the row is written whole.
   */
  survivors(keyOf: (row: RowText) => string): { readonly rows: readonly RowText[]; readonly dropped: number } {
    if (this.truncated) return { rows: [], dropped: this.rows?.length ?? 0 };
    const rows: RowText[] = [];
    let dropped = 0;
    for (const row of this.rows ?? []) {
      const key = keyOf(row);
      if (!this.changed.has(key)) {
        rows.push(row);
        continue;
      }
      dropped++;
      const image = this.changed.get(key);
      if (image != null && image.includes(undefined)) rows.push(image.map((v, i) => (v === undefined ? row[i] : v)));
    }
    return { rows, dropped };
  }
}

/** Watermark messages: `backfill` prefix, content `low|high|caught-up:<nonce>`. */
export const WATERMARK_PREFIX = 'backfill';

export function parseWatermark(content: string): { readonly kind: 'low' | 'high' | 'caught-up'; readonly nonce: string } | undefined {
  const match = /^(low|high|caught-up):(.+)$/.exec(content);
  if (match === null) return undefined;
  return { kind: match[1] as 'low' | 'high' | 'caught-up', nonce: match[2] as string };
}

/** The content of a watermark message, as `parseWatermark` reads it back. */
export function watermarkContent(kind: 'low' | 'high' | 'caught-up', nonce: string): string {
  return `${kind}:${nonce}`;
}
