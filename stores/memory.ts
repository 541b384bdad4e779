import type { Campaign } from '../campaigns/campaign.ts';
import type { DataRecord } from '../lib/data-records.ts';
import type { CampaignStore, OutboxBatch } from './campaigns.ts';
import {
  type BatchOutcome,
  checkBatch,
  type EntryDeletion,
  type EntryRecord,
  type EntryStore,
} from './entries.ts';
import type { ScoringInput, ScoringRow, ScoringStore, SelectionResult } from './scoring.ts';
import type { UserProfile, UserStore } from './users.ts';

// In-memory fakes of the store interfaces, with the same guards, for unit tests of handlers.

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryCampaignStore implements CampaignStore {
  readonly docs = new Map<string, { campaign: Campaign; outbox: DataRecord[] }>();
  readonly invites = new Map<string, Set<string>>();

  async init(): Promise<void> {}

  async get(id: string): Promise<Campaign | undefined> {
    const d = this.docs.get(id);
    return d ? clone(d.campaign) : undefined;
  }

  async create(campaign: Campaign, outbox: readonly DataRecord[]): Promise<boolean> {
    if (this.docs.has(campaign.id)) return false;
    this.docs.set(campaign.id, { campaign: clone(campaign), outbox: [...outbox] });
    return true;
  }

  async update(campaign: Campaign, expectedVersion: number, outbox: readonly DataRecord[]): Promise<boolean> {
    const d = this.docs.get(campaign.id);
    if (!d || d.campaign.version !== expectedVersion) return false;
    d.campaign = clone(campaign);
    d.outbox.push(...outbox);
    return true;
  }

  async addInvites(campaignId: string, emails: readonly string[]): Promise<number> {
    const set = this.invites.get(campaignId) ?? new Set<string>();
    this.invites.set(campaignId, set);
    const before = set.size;
    for (const e of emails) set.add(e);
    return set.size - before;
  }

  async countInvites(campaignId: string): Promise<number> {
    return this.invites.get(campaignId)?.size ?? 0;
  }

  async listInvites(campaignId: string): Promise<string[]> {
    return [...(this.invites.get(campaignId) ?? [])];
  }

  async pendingOutbox(limit: number): Promise<OutboxBatch[]> {
    return [...this.docs.values()]
      .filter((d) => d.outbox.length > 0)
      .slice(0, limit)
      .map((d) => ({ campaignId: d.campaign.id, version: d.campaign.version, records: [...d.outbox] }));
  }

  async removeFromOutbox(campaignId: string, ids: readonly string[]): Promise<void> {
    const d = this.docs.get(campaignId);
    if (d) d.outbox = d.outbox.filter((r) => !ids.includes(r.sourceRecordId));
  }
}

export class MemoryEntryStore implements EntryStore {
  readonly docs = new Map<string, { version: number; entry?: EntryRecord }>();

  async init(): Promise<void> {}

  async upsertEntries(campaignId: string, entries: readonly EntryRecord[]): Promise<BatchOutcome> {
    checkBatch(campaignId, entries);
    const out: BatchOutcome = { applied: [], stale: [] };
    for (const e of entries) {
      const k = `${campaignId}:${e.globalUserId}`;
      const cur = this.docs.get(k);
      if (cur && cur.version >= e.version) out.stale.push(e.globalUserId);
      else {
        this.docs.set(k, { version: e.version, entry: clone(e) });
        out.applied.push(e.globalUserId);
      }
    }
    return out;
  }

  async deleteEntries(campaignId: string, deletions: readonly EntryDeletion[]): Promise<BatchOutcome> {
    checkBatch(campaignId, deletions);
    const out: BatchOutcome = { applied: [], stale: [] };
    for (const d of deletions) {
      const k = `${campaignId}:${d.globalUserId}`;
      const cur = this.docs.get(k);
      if (cur && cur.version > d.version) out.stale.push(d.globalUserId);
      else {
        this.docs.set(k, { version: d.version });
        out.applied.push(d.globalUserId);
      }
    }
    return out;
  }

  async getEntry(campaignId: string, globalUserId: string): Promise<EntryRecord | undefined> {
    const e = this.docs.get(`${campaignId}:${globalUserId}`)?.entry;
    return e ? clone(e) : undefined;
  }

  async countEntries(campaignId: string): Promise<number> {
    return [...this.docs.entries()].filter(([k, d]) => k.startsWith(`${campaignId}:`) && d.entry).length;
  }
}

export class MemoryUserStore implements UserStore {
  readonly users = new Map<string, UserProfile>();

  async init(): Promise<void> {}

  async upsertUsers(users: readonly UserProfile[]): Promise<BatchOutcome> {
    const out: BatchOutcome = { applied: [], stale: [] };
    for (const u of users) {
      const cur = this.users.get(u.globalUserId);
      if (cur && cur.version >= u.version) out.stale.push(u.globalUserId);
      else {
        this.users.set(u.globalUserId, clone(u));
        out.applied.push(u.globalUserId);
      }
    }
    return out;
  }

  async getUser(globalUserId: string): Promise<UserProfile | undefined> {
    const u = this.users.get(globalUserId);
    return u ? clone(u) : undefined;
  }
}

export class MemoryScoringStore implements ScoringStore {
  readonly rows = new Map<string, ScoringRow>();
  readonly fanOrder = new Map<string, number>();

  private advance(campaignId: string, globalUserId: string, order: number): boolean {
    const k = `${campaignId}:${globalUserId}`;
    if ((this.fanOrder.get(k) ?? -1) > order) return false;
    this.fanOrder.set(k, order);
    return true;
  }

  async init(): Promise<void> {}

  async replaceFanRows(
    campaignId: string,
    globalUserId: string,
    entryVersion: number,
    rows: readonly ScoringInput[],
  ): Promise<{ upserted: number; stale: number; removed: number }> {
    if (!this.advance(campaignId, globalUserId, entryVersion * 2))
      return { upserted: 0, stale: rows.length, removed: 0 };
    let upserted = 0;
    let stale = 0;
    for (const r of rows) {
      const k = `${campaignId}:${r.marketId}:${globalUserId}`;
      const cur = this.rows.get(k);
      if (cur && cur.entryVersion > entryVersion) {
        stale++;
        continue;
      }
      const next: ScoringRow = { ...cur, campaignId, globalUserId, ...r, entryVersion };
      if (r.phone === undefined) delete next.phone;
      this.rows.set(k, next);
      upserted++;
    }
    const removed = this.remove(campaignId, globalUserId, (v) => v < entryVersion);
    return { upserted, stale, removed };
  }

  async deleteFanRows(campaignId: string, globalUserId: string, entryVersion: number): Promise<number> {
    if (!this.advance(campaignId, globalUserId, entryVersion * 2 + 1)) return 0;
    return this.remove(campaignId, globalUserId, (v) => v <= entryVersion);
  }

  async listRows(
    campaignId: string,
    marketId: string,
    options: { unselectedOnly?: boolean; limit?: number; skip?: number } = {},
  ): Promise<ScoringRow[]> {
    return [...this.rows.values()]
      .filter((r) => r.campaignId === campaignId && r.marketId === marketId)
      .filter((r) => !options.unselectedOnly || r.selectedRunId === undefined)
      .sort((a, b) => (b.score ?? -1) - (a.score ?? -1) || a.globalUserId.localeCompare(b.globalUserId))
      .slice(options.skip ?? 0, (options.skip ?? 0) + (options.limit ?? 1000))
      .map(clone);
  }

  async countRows(campaignId: string, marketId: string): Promise<number> {
    return (await this.listRows(campaignId, marketId, { limit: Number.MAX_SAFE_INTEGER })).length;
  }

  async recordSelection(
    campaignId: string,
    marketId: string,
    runId: string,
    results: readonly SelectionResult[],
  ): Promise<number> {
    let n = 0;
    for (const r of results) {
      const row = this.rows.get(`${campaignId}:${marketId}:${r.globalUserId}`);
      if (!row || (row.selectedRunId !== undefined && row.selectedRunId !== runId)) continue;
      row.verdict = r.verdict;
      row.selectedRunId = runId;
      if (r.code !== undefined) row.code = r.code;
      n++;
    }
    return n;
  }

  private remove(campaignId: string, globalUserId: string, match: (v: number) => boolean): number {
    let n = 0;
    for (const [k, r] of this.rows) {
      if (r.campaignId === campaignId && r.globalUserId === globalUserId && match(r.entryVersion)) {
        this.rows.delete(k);
        n++;
      }
    }
    return n;
  }
}
