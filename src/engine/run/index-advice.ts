// A target's advice on indexes its writes need: shown by `plan`, and warned once per run through the event bus.

import type { Target } from '../../connectors/connector.js';
import type { EventBus } from '../../core/events.js';
import type { DuckConn } from '../../runtime/duckdb-session.js';

/** Warnings already given on a bus: an incremental run runs its history and its window on one bus, and says it once. */
const given = new WeakMap<EventBus, Set<string>>();

/** The target's index warnings; advice is never worth failing a plan or a run over, so a failed catalog read gives none. */
export async function indexWarnings(target: Target, conn: DuckConn): Promise<readonly string[]> {
  if (target.indexAdvice === undefined) return [];
  return target.indexAdvice(conn).catch(() => []);
}

/** Emit the target's index warnings as `warning` events, each once per bus. */
export async function warnIndexes(target: Target, conn: DuckConn, events: EventBus, runId: string): Promise<void> {
  let seen = given.get(events);
  if (seen === undefined) {
    seen = new Set();
    given.set(events, seen);
  }
  for (const message of await indexWarnings(target, conn)) {
    if (seen.has(message)) continue;
    seen.add(message);
    events.emit('warning', { runId, message });
  }
}
