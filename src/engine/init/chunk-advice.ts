// How big `backfill init` makes chunks: about 1–5 million rows each, from the row count and the
// chunk column's range (pure arithmetic, so it is tested on its own).

/** Rows a chunk should hold: the middle (geometrically) of 1–5 million. */
export const IDEAL_CHUNK_ROWS = Math.sqrt(1_000_000 * 5_000_000);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Calendar steps a time chunk can take, smallest first, with their approximate length. */
const STEPS: readonly { readonly every: string; readonly ms: number }[] = [
  { every: '1 hour', ms: HOUR },
  { every: '6 hours', ms: 6 * HOUR },
  { every: '1 day', ms: DAY },
  { every: '1 week', ms: 7 * DAY },
  { every: '1 month', ms: 30.44 * DAY },
  { every: '3 months', ms: 91.31 * DAY },
  { every: '1 year', ms: 365.25 * DAY },
];

export interface TimeAdvice {
  readonly every: string;
  /** Rows an average chunk holds with this step. */
  readonly rowsPerChunk: number;
}

/** The calendar step whose chunks come closest to IDEAL_CHUNK_ROWS, for `rows` spread over `spanMs`. */
export function adviseEvery(rows: number, spanMs: number): TimeAdvice {
  // A span of one instant still fills a chunk of the smallest step.
  const perMs = rows / Math.max(spanMs, HOUR);
  let best = { every: '1 day', rowsPerChunk: perMs * DAY };
  let bestScore = Infinity;
  for (const step of STEPS) {
    const rowsPerChunk = perMs * step.ms;
    const score = Math.abs(Math.log(Math.max(rowsPerChunk, 1) / IDEAL_CHUNK_ROWS));
    if (score < bestScore) {
      best = { every: step.every, rowsPerChunk };
      bestScore = score;
    }
  }
  // A step longer than the whole history holds all of it, not more.
  return { ...best, rowsPerChunk: Math.min(best.rowsPerChunk, rows) };
}

export interface KeyAdvice {
  readonly size: number;
  readonly rowsPerChunk: number;
}

/** A round key range (1, 2 or 5 × 10^n) holding about IDEAL_CHUNK_ROWS, for `rows` spread over keys min…max. */
export function adviseSize(rows: number, min: number, max: number): KeyAdvice {
  const keys = Math.max(max - min + 1, 1);
  const perKey = Math.max(rows, 1) / keys;
  const raw = Math.max(IDEAL_CHUNK_ROWS / perKey, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const size = [1, 2, 5, 10].map((m) => m * power).reduce((a, b) => (Math.abs(Math.log(b / raw)) < Math.abs(Math.log(a / raw)) ? b : a));
  return { size, rowsPerChunk: Math.min(size * perKey, rows) };
}
