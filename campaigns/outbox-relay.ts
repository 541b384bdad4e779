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
// before publishing loses nothing: the records wait in the campaign document.

export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly retry = createRetry({ attempts: 3, initialDelayMs: 200 });

  constructor(
    private readonly deps: {
      store: CampaignStore;
      publisher: DataRecordsPublisher;
      cache?: CampaignCacheWriter;
      logger?: Logger;
      batchSize?: number;
    },
  ) {}

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
        this.deps.logger?.debug(
          { campaignId: batch.campaignId, records: batch.records.length },
          'campaign outbox published',
        );
      } catch (err) {
        // Left in the outbox: the next pass tries again. One campaign never blocks the others.
        this.deps.logger?.warn(
          { campaignId: batch.campaignId, err: describeError(err) },
          'campaign outbox not published yet',
        );
      }
    }
    return published;
  }
}
