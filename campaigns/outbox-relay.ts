import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { DataRecordsPublisher } from '../lib/data-records.ts';
import { describeError } from '../lib/errors.ts';
import { createRetry } from '../lib/retry.ts';
import type { CampaignStore } from '../stores/campaigns.ts';
import type { CampaignCacheWriter } from './service.ts';

// Publishes the campaign outbox to data.records: read pending records, publish them in order, then
// remove exactly those from the outbox. A crash after publishing and before the removal publishes
// them again on the next pass with the same sourceRecordIds (at-least-once on the wire, exactly once
// in effect for a consumer that dedups on sourceRecordId, as the analytics router does). A crash
// before publishing loses nothing: the records wait in the campaign document. Every API replica
// runs a relay; a lease in the campaign store lets one of them publish at a time.

export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly retry = createRetry({ attempts: 3, initialDelayMs: 200 });
  /** Last failure logged per campaign: a failure that repeats every pass is logged once. */
  private readonly lastFailure = new Map<string, string>();

  constructor(
    private readonly deps: {
      store: CampaignStore;
      publisher: DataRecordsPublisher;
      cache?: CampaignCacheWriter;
      logger?: Logger;
      batchSize?: number;
      /** This relay's name in the lease (default: host + pid + random). */
      owner?: string;
      leaseMs?: number;
      clock?: () => Date;
    },
  ) {
    this.owner = deps.owner ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  private readonly owner: string;

  /** One pass over pending outboxes; returns how many records were published. */
  runOnce(): Promise<number> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  start(intervalMs = 1_000): void {
    const tick = () => {
      this.runOnce()
        .catch((err) => this.deps.logger?.error({ err: describeError(err) }, 'outbox relay pass failed'))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  private async pass(): Promise<number> {
    const now = this.deps.clock?.() ?? new Date();
    if (!(await this.deps.store.acquireRelayLease(this.owner, this.deps.leaseMs ?? 15_000, now))) return 0;
    let published = 0;
    const batches = await this.deps.store.pendingOutbox(this.deps.batchSize ?? 100);
    for (const batch of batches) {
      try {
        if (batch.records.length > 0) {
          await this.retry(() => this.deps.publisher.publish(batch.records));
          published += batch.records.length;
        }
        await this.deps.store.removeFromOutbox(
          batch.campaignId,
          batch.records.map((r) => r.sourceRecordId),
        );
        await this.deps.cache?.refresh(batch.campaignId);
        if (this.lastFailure.delete(batch.campaignId))
          this.deps.logger?.info({ campaignId: batch.campaignId }, 'campaign outbox published again');
        this.deps.logger?.debug(
          { campaignId: batch.campaignId, records: batch.records.length },
          'campaign outbox published',
        );
      } catch (err) {
        // Left in the outbox: the next pass tries again. One campaign never blocks the others.
        const reason = describeError(err);
        const repeated = this.lastFailure.get(batch.campaignId) === reason;
        this.lastFailure.set(batch.campaignId, reason);
        this.deps.logger?.[repeated ? 'debug' : 'warn'](
          { campaignId: batch.campaignId, pending: batch.records.length, err: reason },
          'campaign outbox not published yet',
        );
      }
    }
    return published;
  }
}
