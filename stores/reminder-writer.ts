import { BatchWriteItemCommand, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describeError, isRetriable } from '../lib/errors.ts';
import { backoffDelay, DEFAULT_RETRY, type RetryOptions } from '../lib/retry.ts';
import type { ReminderRecord } from '../notifications/reminder-records.ts';

// Writes reminder records into the demand table: BatchWriteItem, 25 items a request (DynamoDB's
// limit), up to `concurrency` requests in flight across everything pushed to one session, so a
// market's pages stream through without a pause between pages. Unprocessed items come back to
// the same request, retried with backoff; a thrown retriable error (throttling, 5xx, a socket)
// retries the request; what is left after `attempts` counts as failed (with the last error).
// Puts are idempotent: the key is deterministic and the item holds no clock reading, so writing a
// market again leaves the table as it was (and DynamoDB Streams emit nothing for an unchanged put).

export const BATCH_WRITE_MAX = 25;

export interface WriteTotals {
  written: number;
  failed: number;
  /** The last error seen for a failed item, for the incident and the log. */
  lastError?: string;
}

export interface ReminderWriteSession {
  /** Queues records; resolves once they are all in flight (back-pressure at `concurrency`). */
  push(records: readonly ReminderRecord[]): Promise<void>;
  /** Waits for everything in flight. */
  finish(): Promise<WriteTotals>;
}

export interface ReminderWriter {
  session(): ReminderWriteSession;
}

export interface DynamoReminderWriterOptions {
  concurrency?: number;
  retry?: Partial<RetryOptions>;
}

export const reminderItem = (r: ReminderRecord) => marshall({ ...r, type: 'reminder' });

export class DynamoReminderWriter implements ReminderWriter {
  private readonly concurrency: number;
  private readonly retry: RetryOptions;

  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
    options: DynamoReminderWriterOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 16;
    this.retry = { ...DEFAULT_RETRY, attempts: 8, initialDelayMs: 50, maxDelayMs: 2_000, ...options.retry };
  }

  /** One BatchWriteItem of at most 25 requests, retried until done or out of attempts. */
  async writeBatch(requests: WriteRequest[]): Promise<WriteTotals> {
    let pending = requests;
    let lastError: string | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await this.client.send(
          new BatchWriteItemCommand({ RequestItems: { [this.tableName]: pending } }),
        );
        const left = out.UnprocessedItems?.[this.tableName] ?? [];
        if (left.length === 0) return { written: requests.length, failed: 0 };
        pending = left;
        lastError = `${left.length} unprocessed items`;
      } catch (err) {
        lastError = describeError(err);
        if (!isRetriable(err)) break;
      }
      if (attempt >= this.retry.attempts) break;
      await new Promise((r) => setTimeout(r, backoffDelay(this.retry, attempt)));
    }
    return {
      written: requests.length - pending.length,
      failed: pending.length,
      ...(lastError ? { lastError } : {}),
    };
  }

  session(): ReminderWriteSession {
    const totals: WriteTotals = { written: 0, failed: 0 };
    const inFlight = new Set<Promise<void>>();
    const start = (requests: WriteRequest[]) => {
      const p: Promise<void> = this.writeBatch(requests).then((t) => {
        totals.written += t.written;
        totals.failed += t.failed;
        if (t.lastError) totals.lastError = t.lastError;
        inFlight.delete(p);
      });
      inFlight.add(p);
    };
    return {
      push: async (records) => {
        for (let i = 0; i < records.length; i += BATCH_WRITE_MAX) {
          while (inFlight.size >= this.concurrency) await Promise.race(inFlight);
          start(
            records.slice(i, i + BATCH_WRITE_MAX).map((r) => ({ PutRequest: { Item: reminderItem(r) } })),
          );
        }
      },
      finish: async () => {
        await Promise.all(inFlight);
        return { ...totals };
      },
    };
  }
}

/** In-memory twin for handler tests: items by PK|SK, with optional injected failures. */
export class MemoryReminderWriter implements ReminderWriter {
  readonly items = new Map<string, ReminderRecord>();
  puts = 0;
  /** Fails every put while set (a DynamoDB outage). */
  failing: string | undefined;

  session(): ReminderWriteSession {
    const totals: WriteTotals = { written: 0, failed: 0 };
    return {
      push: async (records) => {
        for (const r of records) {
          if (this.failing) {
            totals.failed++;
            totals.lastError = this.failing;
            continue;
          }
          this.puts++;
          this.items.set(`${r.PK}|${r.SK}`, r);
          totals.written++;
        }
      },
      finish: async () => ({ ...totals }),
    };
  }
}
