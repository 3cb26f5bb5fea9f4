// `backfill init`: inspect a source, choose the chunk column, key and chunk size from what it
// holds, and write a commented job file that loads as written.

import { relative, sep } from 'node:path';
import type { InspectedColumn, InspectedRange, SourceInspection } from '../../connectors/descriptor.js';
import { createSource, inspectForInit } from '../../connectors/open-connectors.js';
import type { Job } from '../../job/job.js';
import { parseJobText } from '../../job/job-loader.js';
import { renderJobFile, type JobFileSection } from '../../job/job-writer.js';
import type { Step } from '../../core/duration.js';
import { describeError } from '../../core/errors.js';
import { profileJob } from '../profile/profile-job.js';
import { adviseEvery, adviseSize } from './chunk-advice.js';

export interface InitOptions {
  /** A database URL or a file glob. */
  readonly source: string;
  readonly table?: string | undefined;
  /** A database URL, a `.duckdb` file or a folder (a Parquet lake). */
  readonly target: string;
  /** The folder the job file goes to: its paths are written relative to it. */
  readonly jobDir: string;
}

export interface InitResult {
  readonly name: string;
  readonly text: string;
  /** Environment variables the job file refers to for secrets; they must be set before it runs. */
  readonly variables: readonly string[];
}

export async function initJob(options: InitOptions): Promise<InitResult> {
  const variables: string[] = [];
  // The value stays out of the file: only the variable that will hold it is written. It is kept
  // in memory to read the source's distribution once the job is written (chunkByDistribution).
  const secrets: Record<string, string> = {};
  const secretOf = (variable: string) => (value: string): string => {
    if (!variables.includes(variable)) variables.push(variable);
    secrets[variable] = value;
    return `\${${variable}}`;
  };
  const found = await inspectForInit(
    { text: options.source, table: options.table, secret: secretOf('BACKFILL_SOURCE_PASSWORD') },
    (sourceName) => ({ text: options.target, table: tableName(sourceName), secret: secretOf('BACKFILL_TARGET_PASSWORD') }),
  );
  const inspection = found.source;
  try {
    const choice = chooseColumn(inspection);
    const range = choice === undefined ? undefined : await inspection.range(choice.column);
    const even = choice === undefined ? cutSection(inspection) : chunkSection(inspection, choice, range);
    const name = jobName(inspection.name);
    const toJobDir = (path: string): string => relative(options.jobDir, path).split(sep).join('/') || '.';
    const key = inspection.primaryKey;
    const render = (chunk: JobFileSection): string => {
      const sections: JobFileSection[] = [
        { comments: [], key: 'name', value: name },
        { comments: [`Read from the ${inspection.description}.`], key: 'source', value: found.relocate(inspection.block, 'source', toJobDir) },
        ...(chunk.key === '' ? [] : [chunk]),
        { comments: [...(chunk.key === '' ? chunk.comments : []), 'Where rows go (see README: "Targets and write modes").'], key: 'target', value: found.relocate(found.target, 'target', toJobDir) },
        key.length > 0
          ? { comments: [`Merge by the primary key (${key.join(', ')}): a re-run or a retried chunk updates rows instead of adding them again.`], key: 'write', value: { mode: 'merge', key } }
          : chunk.key === ''
            ? { comments: ['No primary key: each run replaces the whole target with the source.'], key: 'write', value: { mode: 'replace' } }
            : { comments: ['No primary key: each chunk replaces its own range of the chunk column in the target.'], key: 'write', value: { mode: 'replace' } },
      ];
      const header = [
        `Written by \`backfill init\` from ${inspection.description}.`,
        'Check it with `backfill plan <this file>`; editors complete and check it with the JSON Schema of',
        '`backfill schema -o backfill.schema.json` and a first line `# yaml-language-server: $schema=backfill.schema.json`.',
        ...(variables.length === 0 ? [] : ['', `Secrets come from the environment: set ${variables.join(' and ')} before running it.`]),
      ];
      const text = renderJobFile(header, sections);
      // Never hand the user a file the loader would refuse.
      parseJobText(text, { baseDir: options.jobDir, env: Object.fromEntries(variables.map((v) => [v, 'set-at-run-time'])) });
      return text;
    };
    let text = render(even);
    if (choice !== undefined && range !== undefined && (range.rows ?? inspection.rows) !== undefined) {
      const job = parseJobText(text, { baseDir: options.jobDir, env: secrets });
      text = render(chunkSection(inspection, choice, range, await chunkByDistribution(job)));
    }
    return { name, text, variables };
  } finally {
    await inspection.close();
  }
}

/**
 * The row count spread evenly over the column's range sizes chunks for an average period; history
 * that grew, or has a busy season, needs them sized for its busiest part. `profile`, without its
 * timed sample, reads how the rows spread (statistics, footers, file names, or one grouped count)
 * at a finer step than the even one, and recommends the largest step whose busiest chunk holds at
 * most 5 million rows. Where it cannot read them, the even sizing stays and says why.
 */
async function chunkByDistribution(job: Job): Promise<Sizing | undefined> {
  const chunking = job.chunking;
  if (chunking.kind !== 'time' && chunking.kind !== 'key') return undefined;
  const finer: Job['chunking'] =
    chunking.kind === 'time' ? { ...chunking, step: finerStep(chunking.step.unit) } : { ...chunking, size: chunking.size >= 20n ? chunking.size / 20n : 1n };
  const assumedEven = (why: string): Sizing => ({ evenBecause: why });
  try {
    // Files that cannot be pruned (no dates in their names) tell nothing of how rows spread short of
    // reading them all again, which the inspection did once already.
    const source = await createSource(job);
    const prunes = source.capabilities.prunes;
    await source.close();
    if (!prunes) return assumedEven('these files carry no statistics and no dates in their names, and reading them all again to count would cost another scan');
    // Append: a look at how rows spread needs no search for duplicate keys.
    const report = await profileJob({ ...job, chunking: finer, write: { mode: 'append', key: [] } }, { estimate: false });
    const advice = report.recommended;
    if (advice === undefined) return undefined;
    const n = (v: number): string => v.toLocaleString('en-US');
    const size = 'every' in advice.chunk ? `chunks of ${advice.chunk.every}` : `${n(advice.chunk.size)} keys per chunk`;
    const why = `${size}: the busiest would hold about ${n(advice.peakRows)} rows, the median ${n(advice.medianRows)} (rows per chunk from ${report.perChunk.source}; aim: 1–5 million)`;
    return { chunk: advice.chunk, why };
  } catch (err) {
    return assumedEven(`how they spread could not be read (${describeError(err)})`);
  }
}

/** Chunks sized from how the rows spread (and why), or the reason the even sizing stays. */
type Sizing = { readonly chunk: { readonly every: string } | { readonly size: number }; readonly why: string } | { readonly evenBecause: string };

/** A step finer than the even sizing's, to see the busiest part of history. */
function finerStep(unit: Step['unit']): Step {
  return { n: 1, unit: unit === 'year' ? 'week' : unit === 'month' || unit === 'week' ? 'day' : 'hour' };
}

interface ColumnChoice {
  readonly column: InspectedColumn;
  readonly why: string;
  readonly warning?: string;
}

/** A time column or an integer primary key to chunk on; undefined when the source has neither. */
function chooseColumn(s: SourceInspection): ColumnChoice | undefined {
  const time = s.columns.filter((c) => c.kind === 'time');
  const pk = s.primaryKey.length === 1 ? s.columns.find((c) => c.name === s.primaryKey[0]) : undefined;
  const indexedTime = time.find((c) => c.indexed);
  if (s.hasIndexes && indexedTime !== undefined) {
    return { column: indexedTime, why: `the first timestamp column an index leads with (${indexedTime.type}), so each chunk's range query is served by the index` };
  }
  if (pk?.kind === 'integer') {
    const why = s.hasIndexes ? 'no index leads with a timestamp column' : 'no timestamp or date column';
    return { column: pk, why: `${why}; the primary key is an integer (${pk.type}), so chunks are ranges of it` };
  }
  const first = time[0];
  if (first !== undefined && !s.hasIndexes) return { column: first, why: `the first timestamp or date column (${first.type}) detected in the source` };
  if (first !== undefined) {
    return {
      column: first,
      why: `the first timestamp column (${first.type}); there is no index on a timestamp column and no integer primary key`,
      warning: `no index leads with ${first.name}: every chunk would scan the table; create one before running (CREATE INDEX ON <table> (${first.name}))`,
    };
  }
  return undefined;
}

/**
 * Neither a time column nor an integer primary key: chunks of about a million rows cut on the
 * primary key (text, UUID, decimal or several columns, in the source's own order); without a
 * primary key, one chunk (no chunk:), which suits reference data — `profile` says when it is too big.
 */
function cutSection(s: SourceInspection): JobFileSection {
  const count = s.rows === undefined ? 'an unknown number of rows' : `about ${Math.round(s.rows).toLocaleString('en-US')} rows (${s.rowsFrom})`;
  if (s.primaryKey.length > 0) {
    const [only] = s.primaryKey;
    return {
      comments: [
        `No timestamp or date column and no integer primary key: chunks of about 1,000,000 rows cut on the primary key (${s.primaryKey.join(', ')}), ${count}.`,
        'The boundaries are taken from the data in the source\'s own order and recorded in the ledger on the first run.',
      ],
      key: 'chunk',
      value: { column: s.primaryKey.length === 1 ? only : [...s.primaryKey], rows: 1_000_000 },
    };
  }
  const columns = s.columns.map((c) => `${c.name} ${c.type}`).join(', ');
  return {
    comments: [
      `No chunk: — the source has no timestamp or date column and no primary key (columns: ${columns}), so a run loads it whole, as one chunk (${count}).`,
      'For a large source add chunk: { column: <an ordered column>, rows: 1000000 }; `backfill profile` warns past 5 million rows.',
    ],
    key: '',
    value: undefined,
  };
}

function chunkSection(s: SourceInspection, choice: ColumnChoice, range: InspectedRange | undefined, sizing?: Sizing): JobFileSection {
  const rows = range?.rows ?? s.rows;
  const count = rows === undefined ? 'an unknown number of rows' : `about ${Math.round(rows).toLocaleString('en-US')} rows (${s.rowsFrom})`;
  const comments = [`Chunk column ${choice.column.name}: ${choice.why}.`, ...(choice.warning === undefined ? [] : [`WARNING: ${choice.warning}.`])];
  const column = choice.column.name;
  // `over` is where the rows lie; the sizing from their spread replaces the even one where there is one.
  const sized = (over: string, even: string, value: Record<string, unknown>): JobFileSection => {
    if (sizing !== undefined && 'chunk' in sizing) {
      comments.push(`${count} over ${over}; ${sizing.why}.`);
      return { comments, key: 'chunk', value: { column, ...sizing.chunk } };
    }
    const because = sizing === undefined ? '' : ` Rows assumed even over the range: ${sizing.evenBecause}.`;
    comments.push(`${count} over ${over}: ${even} (aim: 1–5 million).${because}`);
    return { comments, key: 'chunk', value: { column, ...value } };
  };
  if (range === undefined) {
    comments.push(`The source holds no rows yet (no ${column} values), so the chunk size is a default; revisit it once it has data.`);
    return { comments, key: 'chunk', value: choice.column.kind === 'time' ? { column, every: '1 day' } : { column, size: 1_000_000 } };
  }
  if (choice.column.kind === 'time') {
    const span = `${new Date(range.min).toISOString()} … ${new Date(range.max).toISOString()}`;
    if (rows === undefined) {
      comments.push(`${span}, ${count}: 1 day is a default; size chunks to hold 1–5 million rows each.`);
      return { comments, key: 'chunk', value: { column, every: '1 day' } };
    }
    const advice = adviseEvery(rows, range.max - range.min);
    return sized(span, `chunks of ${advice.every} hold about ${Math.round(advice.rowsPerChunk).toLocaleString('en-US')} rows each`, { every: advice.every });
  }
  const keys = `keys ${range.min} … ${range.max}`;
  if (rows === undefined) {
    comments.push(`${keys}, ${count}: 1,000,000 keys per chunk is a default; size chunks to hold 1–5 million rows each.`);
    return { comments, key: 'chunk', value: { column, size: 1_000_000 } };
  }
  const advice = adviseSize(rows, range.min, range.max);
  return sized(keys, `${advice.size.toLocaleString('en-US')} keys per chunk hold about ${Math.round(advice.rowsPerChunk).toLocaleString('en-US')} rows each`, { size: advice.size });
}

/** A job name the schema takes: letters, digits, `_`, `-`, `.`, starting with a letter or digit. */
function jobName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128);
  return cleaned === '' ? 'backfill' : cleaned;
}

/** A table name that needs no quoting in any database: lower case, digits and `_`. */
function tableName(name: string): string {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^[^a-z_]+/, '');
  return cleaned === '' ? 'backfill_target' : cleaned;
}
