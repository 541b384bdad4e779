import type { Logger } from 'pino';
import { describeError, RetriableError, ValidationError } from '../lib/errors.ts';
import type { ReminderEmailSchedule } from '../notifications/reminder-emails.ts';
import type { CampaignStore } from '../stores/campaigns.ts';
import type { ReminderEmailState } from '../stores/notification-state.ts';
import {
  applyStatus,
  type Campaign,
  type CampaignDefinition,
  type CampaignStatus,
  canTransition,
  normalizeEmail,
  parseCampaignDefinition,
} from './campaign.ts';
import { campaignChangeRecords } from './records.ts';

// Campaign management (the CLI and the admin API both call this): apply a definition, change the
// status, import invites. Every change is one compare-and-set write of the campaign document that
// also appends the change's data.records to the document's outbox (see stores/campaigns.ts), then a
// best-effort cache refresh (the outbox relay refreshes again, so a crash here only delays it).

export interface CampaignCacheWriter {
  refresh(campaignId: string): Promise<void>;
}

export interface ApplyResult {
  campaign: Campaign;
  outcome: 'created' | 'updated' | 'unchanged';
  /** What the definition's date.sendReminderEmails did (absent when it has none). */
  reminderEmails?: ReminderEmailSchedule;
}

/** Where a definition's date.sendReminderEmails go (stores/notification-state.ts). */
export interface ReminderEmailDates {
  scheduleReminderEmails(campaignId: string, dates: readonly Date[]): Promise<ReminderEmailSchedule>;
  getReminderEmails(campaignId: string): Promise<ReminderEmailState | undefined>;
}

const MAX_ATTEMPTS = 5;

export class CampaignService {
  private readonly clock: () => Date;

  constructor(
    private readonly deps: {
      store: CampaignStore;
      cache?: CampaignCacheWriter;
      logger?: Logger;
      clock?: () => Date;
      /** Stores date.sendReminderEmails; a definition carrying them needs it. */
      reminderEmails?: ReminderEmailDates;
      /**
       * The hash of the campaign's selection seed, the seed generated once (idempotent): called
       * before a close is written, so the close and its CAMPAIGN record carry the hash. A failure
       * fails the close (nothing written; try again).
       */
      seedHashAtClose?: (campaignId: string) => Promise<string>;
    },
  ) {
    this.clock = deps.clock ?? (() => new Date());
  }

  get(campaignId: string): Promise<Campaign | undefined> {
    return this.deps.store.get(campaignId);
  }

  /** The campaign's reminder email dates: pending, and those already exported. */
  async reminderEmails(campaignId: string): Promise<ReminderEmailState | undefined> {
    return this.deps.reminderEmails?.getReminderEmails(campaignId);
  }

  /** Creates or updates a campaign from its definition (a parsed campaign file or API body). */
  async apply(input: unknown): Promise<ApplyResult> {
    const def = parseCampaignDefinition(input);
    const dates = def.date?.sendReminderEmails;
    if (dates && !this.deps.reminderEmails)
      throw new Error('CampaignService: date.sendReminderEmails given but no reminder email store wired');
    if (def.invites?.length) await this.deps.store.addInvites(def.id, def.invites.map(normalizeEmail));
    const result = await this.change(def.id, async (current) => {
      const inviteCount = await this.deps.store.countInvites(def.id);
      if (!current) {
        if (!canTransition('DRAFT', def.status))
          throw new ValidationError(
            'status',
            `a new campaign can start as DRAFT, ACTIVE or CLOSED, not ${def.status}`,
          );
        return this.fromDefinition(def, undefined, inviteCount);
      }
      const next = this.fromDefinition(def, current, inviteCount);
      return sameDefinition(current, next) ? undefined : next;
    });
    if (!dates) return result;
    // After the campaign write (a due date always finds its campaign); not in the same write, so a
    // crash in between is repaired by applying the file again (this step is idempotent).
    const reminderEmails = await this.deps.reminderEmails!.scheduleReminderEmails(
      def.id,
      dates.map((d) => new Date(d)),
    );
    if (reminderEmails.changed || reminderEmails.alreadyTriggered.length > 0)
      this.deps.logger?.info(
        {
          campaignId: def.id,
          pending: reminderEmails.pending.map((d) => d.toISOString()),
          added: reminderEmails.added.map((d) => d.toISOString()),
          cancelled: reminderEmails.cancelled.map((d) => d.toISOString()),
          alreadyTriggered: reminderEmails.alreadyTriggered.map((d) => d.toISOString()),
        },
        'reminder email dates applied',
      );
    return { ...result, reminderEmails };
  }

  async setStatus(campaignId: string, status: CampaignStatus): Promise<ApplyResult> {
    return this.change(campaignId, async (current) => {
      if (!current) throw new NotFoundError(campaignId);
      if (current.status === status) return undefined;
      const now = this.clock();
      const { status: next, closedAt } = applyStatus(current, status, now);
      return this.bump(current, { status: next, ...(closedAt ? { closedAt } : {}) });
    });
  }

  /** Adds emails to the invite list (idempotent) and bumps the campaign so caches refresh. */
  async importInvites(
    campaignId: string,
    emails: readonly string[],
  ): Promise<{ added: number; total: number }> {
    if (!(await this.deps.store.get(campaignId))) throw new NotFoundError(campaignId);
    const added = await this.deps.store.addInvites(campaignId, emails.map(normalizeEmail));
    const result = await this.change(campaignId, async (current) => {
      if (!current) throw new NotFoundError(campaignId);
      const inviteCount = await this.deps.store.countInvites(campaignId);
      return inviteCount === current.inviteCount ? undefined : this.bump(current, { inviteCount });
    });
    return { added, total: result.campaign.inviteCount };
  }

  private async change(
    campaignId: string,
    next: (current: Campaign | undefined) => Promise<Campaign | undefined>,
  ): Promise<ApplyResult> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = await this.deps.store.get(campaignId);
      const proposed = await next(current);
      if (!proposed) {
        if (!current) throw new NotFoundError(campaignId);
        return { campaign: current, outcome: 'unchanged' };
      }
      if (proposed.status === 'CLOSED' && proposed.seedHash === undefined && this.deps.seedHashAtClose) {
        proposed.seedHash = await this.deps.seedHashAtClose(campaignId);
        this.deps.logger?.info(
          { campaignId, seedHash: proposed.seedHash },
          'campaign closing: selection seed hash published with the close',
        );
      }
      const records = campaignChangeRecords(current, proposed);
      const written = current
        ? await this.deps.store.update(proposed, current.version, records)
        : await this.deps.store.create(proposed, records);
      if (!written) continue; // someone else changed it first: read again
      this.deps.logger?.info(
        { campaignId, version: proposed.version, status: proposed.status, records: records.length },
        current ? 'campaign updated' : 'campaign created',
      );
      await this.refreshCache(campaignId);
      return { campaign: proposed, outcome: current ? 'updated' : 'created' };
    }
    throw new RetriableError(
      `campaign ${campaignId} kept changing under ${MAX_ATTEMPTS} attempts; try again`,
    );
  }

  private async refreshCache(campaignId: string): Promise<void> {
    try {
      await this.deps.cache?.refresh(campaignId);
    } catch (err) {
      this.deps.logger?.warn(
        { campaignId, err: describeError(err) },
        'campaign cache refresh failed; the outbox relay will refresh it',
      );
    }
  }

  private fromDefinition(
    def: CampaignDefinition,
    current: Campaign | undefined,
    inviteCount: number,
  ): Campaign {
    const now = this.clock().toISOString();
    const { invites: _i, date: _dates, ...rest } = def;
    const status = current
      ? applyStatus(current, def.status, this.clock())
      : applyStatus({ status: 'DRAFT' }, def.status, this.clock());
    const campaign: Campaign = {
      ...rest,
      status: status.status,
      version: (current?.version ?? 0) + 1,
      inviteCount,
      date: { created: current?.date.created ?? now, updated: now },
    };
    if (status.closedAt) campaign.closedAt = status.closedAt;
    if (current?.seedHash) campaign.seedHash = current.seedHash;
    return campaign;
  }

  private bump(current: Campaign, patch: Partial<Campaign>): Campaign {
    return {
      ...current,
      ...patch,
      version: current.version + 1,
      date: { created: current.date.created, updated: this.clock().toISOString() },
    };
  }
}

export class NotFoundError extends ValidationError {
  constructor(campaignId: string) {
    super('campaignId', `no campaign ${JSON.stringify(campaignId)}`);
  }
}

function sameDefinition(a: Campaign, b: Campaign): boolean {
  const strip = ({ version: _v, date: _d, ...rest }: Campaign) => rest;
  return stableJson(strip(a)) === stableJson(strip(b));
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x.localeCompare(y)))
      : v,
  );
}
