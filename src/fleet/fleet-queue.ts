// The fleet's queue: BullMQ on Redis or on PostgreSQL, the one place that knows which; what a queue job carries and how its id is derived.

import { createHash } from 'node:crypto';
import { createPostgresBackend, Queue, QueueEvents, Worker, withBackend, type Processor } from 'bullmq';
import type { Chunk, ChunkStats } from '../core/chunk.js';
import type { ChunkOutcome } from '../engine/run/run-options.js';
import type { QueueSettings } from '../job/job.js';

/** Redis keys start with this (BullMQ's `prefix`); PostgreSQL queues live in BullMQ's own schema. */
const REDIS_PREFIX = 'backfill';

/**
 * What a queue job carries: a chunk's identity and the job file's text as written — before
 * `${VAR}` interpolation, so each worker resolves secrets from its own environment and none
 * enters the queue. Never rows, never a resolved connection.
 */
export interface ChunkMessage {
  /** The job's name (the ledger's key). */
  readonly job: string;
  /** The job file's text, uninterpolated. */
  readonly spec: string;
  /** The run that enqueued the chunk: its records and backups are that run's. */
  readonly runId: string;
  readonly chunk: Chunk;
  /** The chunk's ledger generation when enqueued (how many times it had completed). */
  readonly generation: number;
  /** When it was enqueued (epoch ms), to measure the queue's overhead. */
  readonly enqueuedAt: number;
}

/** What a worker answers for a chunk: the outcome the ledger recorded, and what the chunk did. */
export interface ChunkReply {
  readonly outcome: ChunkOutcome;
  readonly error?: string | undefined;
  readonly stats?: ChunkStats | undefined;
  /** The worker (`host:pid:id`) and how long the chunk took there. */
  readonly worker: string;
  readonly ms: number;
  /** From enqueue to the worker starting it. */
  readonly waitedMs: number;
}

/**
 * The queue job's id: the same job, chunk and generation always give the same id, so enqueueing
 * twice adds nothing (BullMQ keeps one job per id). BullMQ refuses `:` in ids, which chunk keys hold.
 */
export function chunkJobId(job: string, chunkKey: string, generation: number): string {
  const digest = createHash('sha256').update(`${job}\0${chunkKey}`).digest('hex').slice(0, 24);
  return `c-${digest}-g${generation}`;
}

/** The BullMQ classes and connection options for the queue's URL. */
function backendOf(url: string): { classes: Pick<typeof import('bullmq'), 'Queue' | 'Worker' | 'QueueEvents'>; connection: object } {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const { Queue: PgQueue, Worker: PgWorker, QueueEvents: PgQueueEvents } = withBackend(createPostgresBackend);
    const classes = { Queue: PgQueue, Worker: PgWorker, QueueEvents: PgQueueEvents } as unknown as Pick<typeof import('bullmq'), 'Queue' | 'Worker' | 'QueueEvents'>;
    return { classes, connection: { connectionString: url, migrate: true, application_name: 'backfill-queue' } };
  }
  const u = new URL(url);
  const db = u.pathname.replace(/^\//, '');
  return {
    classes: { Queue, Worker, QueueEvents },
    connection: {
      host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 6379 : Number(u.port),
      ...(u.username === '' ? {} : { username: decodeURIComponent(u.username) }),
      ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
      ...(db === '' ? {} : { db: Number(db) }),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
      // Workers block on Redis; BullMQ wants commands retried for as long as the server is away.
      maxRetriesPerRequest: null,
      // Come back after a restart rather than fail: the ledger, not the queue, decides what is left.
      retryStrategy: (times: number) => Math.min(100 * times, 2_000),
    },
  };
}

export type ChunkQueue = Queue<ChunkMessage, ChunkReply>;
export type ChunkWorker = Worker<ChunkMessage, ChunkReply>;
export type ChunkQueueEvents = QueueEvents;

export function openQueue(settings: QueueSettings): ChunkQueue {
  const { classes, connection } = backendOf(settings.url);
  return new classes.Queue(settings.name, { connection, prefix: REDIS_PREFIX }) as ChunkQueue;
}

export function openQueueEvents(settings: QueueSettings): ChunkQueueEvents {
  const { classes, connection } = backendOf(settings.url);
  return new classes.QueueEvents(settings.name, { connection, prefix: REDIS_PREFIX });
}

export function openWorker(settings: QueueSettings, processor: Processor<ChunkMessage, ChunkReply>, options: { readonly concurrency: number; readonly name: string }): ChunkWorker {
  const { classes, connection } = backendOf(settings.url);
  return new classes.Worker(settings.name, processor, {
    connection, prefix: REDIS_PREFIX, concurrency: options.concurrency, name: options.name,
    // A worker that stops answering (killed, frozen, cut off) loses the job after this long and it is delivered again.
    lockDuration: settings.stalledAfterMs, stalledInterval: Math.max(500, Math.round(settings.stalledAfterMs / 2)),
    // Redelivered as often as it stalls: the ledger's fencing makes every extra delivery harmless.
    maxStalledCount: 1_000,
    autorun: false,
  }) as ChunkWorker;
}

/** Fleet-wide limits live in the queue: every worker on every host observes them. */
export async function applyFleetLimits(queue: ChunkQueue, settings: QueueSettings): Promise<void> {
  if (settings.inFlight !== undefined) await queue.setGlobalConcurrency(settings.inFlight);
  else await queue.removeGlobalConcurrency();
  if (settings.rate !== undefined) await queue.setGlobalRateLimit(settings.rate.max, settings.rate.perMs);
  else await queue.removeGlobalRateLimit();
}
