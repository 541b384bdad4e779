import { randomBytes } from 'node:crypto';
import { loadConfig } from '../config/index.ts';

export const config = loadConfig();

/** A name no earlier run used, so tests never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/**
 * Drops a test's or benchmark's MongoDB database once the processes that used it have stopped.
 * Waits `quietMs` first: a stopped client's last query goes on running in the server, and
 * FerretDB 1.24.2 crashed (SIGBUS in SQLite's WAL index, then refused to start on the emptied
 * file) when a database was dropped under such a query (seen twice after the 10,000-registration
 * replication benchmark, whose guarded writes scan collections).
 */
export async function dropDatabaseWhenQuiet(db: { dropDatabase(): Promise<unknown> }, quietMs = 3_000) {
  await new Promise((r) => setTimeout(r, quietMs));
  await db.dropDatabase().catch(() => {});
}
