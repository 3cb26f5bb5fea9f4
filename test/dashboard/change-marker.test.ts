// The ledger's change marker, on both stores: it moves with every change the dashboard shows, and stays put otherwise.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timeChunk } from '../../src/core/chunk.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Ledger, LedgerReader } from '../../src/ledger/ledger.js';
import { PostgresLedger } from '../../src/ledger/postgres/postgres-ledger.js';
import { SqliteLedger } from '../../src/ledger/sqlite/sqlite-ledger.js';
import { ensurePostgres, pgQuery, POSTGRES_URL } from '../helpers/services.js';

const SCHEMA = 'backfill_change_marker';
const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1);

const STORES = [
  {
    name: 'sqlite',
    open: async (clock: ManualClock): Promise<{ ledger: Ledger; reader: LedgerReader }> => {
      const file = join(mkdtempSync(join(tmpdir(), 'backfill-marker-')), 'ledger.sqlite');
      const ledger = SqliteLedger.open(file, { clock });
      return { ledger, reader: SqliteLedger.openReader(file) as LedgerReader };
    },
  },
  {
    name: 'postgres',
    open: async (clock: ManualClock): Promise<{ ledger: Ledger; reader: LedgerReader }> => {
      await ensurePostgres();
      await pgQuery(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
      const url = `${POSTGRES_URL}?schema=${SCHEMA}`;
      const ledger = await PostgresLedger.open(url, { clock });
      return { ledger, reader: (await PostgresLedger.openReader(url)) as LedgerReader };
    },
  },
];

describe.each(STORES)('changeMarker ($name)', (store) => {
  const clock = new ManualClock(T0);
  let ledger: Ledger;
  let reader: LedgerReader;

  beforeAll(async () => {
    ({ ledger, reader } = await store.open(clock));
  });

  afterAll(async () => {
    await reader?.close();
    await ledger?.close();
    if (store.name === 'postgres') await pgQuery(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  });

  it('moves with chunks, runs, backups and the watermark, and only then', async () => {
    const seen = new Set<string>();
    const moved = async (what: string): Promise<void> => {
      const marker = await reader.changeMarker('job');
      expect(seen.has(marker), what).toBe(false);
      seen.add(marker);
      expect(await reader.changeMarker('job'), `${what}, read again`).toBe(marker);
    };
    await moved('empty');
    const [a, b] = [timeChunk(T0, T0 + DAY), timeChunk(T0 + DAY, T0 + 2 * DAY)];
    await ledger.syncChunks('job', [a, b]);
    await moved('chunks registered');
    await ledger.syncChunks('other', [a]);
    expect(seen.has(await reader.changeMarker('job')), 'another job changed').toBe(true);
    await ledger.startRun({ runId: 'r1', job: 'job', owner: 'o', host: 'h', pid: 1, options: '{}', chunksTotal: 2 });
    await moved('run started');
    // Claim and complete within the same millisecond: the marker still tells them apart.
    const lease = await ledger.claim('job', a, 'o', 'r1', 60_000);
    await moved('claimed');
    await ledger.complete(lease!, { rowsRead: 3, rowsWritten: 3, rowsRejected: 0, bytes: 10 }, 5);
    await moved('completed');
    const second = await ledger.claim('job', b, 'o', 'r1', 60_000);
    await moved('second claimed');
    await ledger.fail(second!, 'boom', 5);
    await moved('failed');
    clock.advance(1000);
    await ledger.heartbeatRun('r1');
    await moved('run heartbeat');
    await ledger.recordBackup({ job: 'job', runId: 'r1', chunkKey: a.key, targetKind: 'parquet', location: 'x', rows: 1, bytes: 1, checksum: 'c', detail: '{}', createdAt: clock.now() });
    await moved('backup');
    await ledger.initWatermark({ job: 'job', cursor: 'ts', kind: 'time', value: 5n, runId: 'r1' });
    await moved('watermark');
    await ledger.finishRun('r1', { status: 'failed', chunksDone: 1, chunksFailed: 1, rowsRead: 3, rowsWritten: 3, bytes: 10 });
    await moved('run finished');
  });
});
