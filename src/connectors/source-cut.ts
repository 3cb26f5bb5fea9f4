// What a database source answers when `chunk.rows` cuts chunks from its data: the running counts over the chunk column(s).

import type { Chunk } from '../core/chunk.js';

/** What `Source.cumulativeCounts` is asked for. */
export interface CumulativeRequest {
  readonly columns: readonly string[];
  /** time: values as epoch milliseconds (`YYYY-MM-DD` for a date); key and range: the value as text. */
  readonly kind: 'time' | 'key' | 'range';
  readonly grain: number;
  /** Only rows past this chunk's upper bound (the last recorded chunk); undefined for all rows. */
  readonly after: Chunk | undefined;
}

/** One reported value (one text per chunk column) and the rows up to and including it. */
export interface CumulativeRow {
  readonly values: readonly string[];
  readonly cum: number;
}
