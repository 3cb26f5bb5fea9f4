#!/usr/bin/env node
// The approaches people start with, for the benchmark to compare against: the first N rows of a CSV
// file inserted with one INSERT per row, or with multi-row INSERTs of 1,000 rows, through node `pg`.
//
//   node scripts/naive-inserts.mjs <csv> <postgres-url> <table> <row|batch> <rows>

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import pg from 'pg';

const [csv, url, table, mode, limitText] = process.argv.slice(2);
const limit = Number(limitText);
const BATCH = 1000;
const COLUMNS = 5;

const client = new pg.Client({ connectionString: url });
await client.connect();
const lines = createInterface({ input: createReadStream(csv), crlfDelay: Infinity });
let header = true;
let n = 0;
let batch = [];
const flush = async () => {
  if (batch.length === 0) return;
  const placeholders = batch.map((_, r) => `(${Array.from({ length: COLUMNS }, (_, c) => `$${r * COLUMNS + c + 1}`).join(', ')})`);
  await client.query(`INSERT INTO ${table} VALUES ${placeholders.join(', ')}`, batch.flat());
  batch = [];
};
for await (const line of lines) {
  if (header) {
    header = false;
    continue;
  }
  if (n === limit) break;
  // The benchmark's CSV has no quoted fields.
  const values = line.split(',');
  if (mode === 'row') await client.query(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5)`, values);
  else {
    batch.push(values);
    if (batch.length === BATCH) await flush();
  }
  n++;
}
await flush();
await client.end();
