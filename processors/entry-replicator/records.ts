import type {
  DataRecord,
  EntryChange,
  EntryRejection,
  EntryRejectionReason,
  UserProfile as UserProfileMessage,
} from '../../schemas/types.generated.ts';
import type { EntryRecord } from '../../stores/entries.ts';
import type { ScoringInput } from '../../stores/scoring.ts';
import type { CurrentItem } from './demand-items.ts';

// The replicator's pure rules: validation against the current item (Scenario 3), and what one
// replicated change becomes (entry-store record, scoring rows, profile, data.records envelopes).

export const DATA_RECORDS_SOURCE = 'entry-replicator';

/** Why a change no longer matches the demand-table, or null when it does (the spec's race check). */
export function staleReason(change: EntryChange, current: CurrentItem | null): EntryRejectionReason | null {
  if (change.kind === 'DELETE') return current === null ? null : 'ITEM_RECREATED';
  if (current === null) return 'ITEM_DELETED';
  return current.version === change.version && current.updated === change.updated ? null : 'STALE';
}

export function rejectionOf(
  change: EntryChange,
  reason: EntryRejectionReason,
  current: CurrentItem | null,
  now: number,
): EntryRejection {
  return {
    recordId: change.recordId,
    campaignId: change.campaignId,
    globalUserId: change.globalUserId,
    kind: change.kind,
    reason,
    changeVersion: change.version,
    changeUpdated: change.updated,
    currentVersion: current?.version ?? null,
    currentUpdated: current?.updated ?? null,
    rejectedAt: now,
  };
}

const orUndefined = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

/** The entry-store record of an UPSERT change. */
export function entryRecordOf(change: EntryChange): EntryRecord {
  const e = change.entry!;
  const record: EntryRecord = {
    campaignId: change.campaignId,
    globalUserId: change.globalUserId,
    email: e.email,
    locale: e.locale,
    markets: [...e.markets],
    marketing: { ...e.marketing },
    version: change.version,
    date: { updated: change.updated ?? new Date(change.approximateCreationTime).toISOString() },
  };
  if (change.fanModified !== null) record.date.fanModified = change.fanModified;
  for (const f of ['firstName', 'lastName', 'phone', 'postalCode', 'linkedFrom'] as const) {
    const v = orUndefined(e[f]);
    if (v !== undefined) record[f] = v;
  }
  if (e.doTransfer !== null) record.doTransfer = e.doTransfer;
  return record;
}

/**
 * The scoring rows of an UPSERT: one per selected market. The demand-table holds eligible entries
 * only (the API writes nothing else), so every replicated entry is eligible; an entry without
 * markets has no rows (and its old rows go).
 */
export function scoringRowsOf(change: EntryChange): ScoringInput[] {
  const e = change.entry!;
  return [...new Set(e.markets)].map((marketId) => ({
    marketId,
    locale: e.locale,
    ...(e.phone === null ? {} : { phone: e.phone }),
  }));
}

/** The fan's profile for users.upserts. */
export function profileOf(change: EntryChange): UserProfileMessage {
  const e = change.entry!;
  return {
    globalUserId: change.globalUserId,
    email: e.email,
    firstName: e.firstName,
    lastName: e.lastName,
    phone: e.phone,
    postalCode: e.postalCode,
    locale: e.locale,
    marketing: { ...e.marketing },
    version: change.version,
    updatedAt: change.updated ?? new Date(change.approximateCreationTime).toISOString(),
    sourceRecordId: change.recordId,
  };
}

/**
 * REGISTRATION (one per change) and REGISTERED_MARKET (one per market selected, and a deleted one
 * per market dropped or withdrawn) envelopes for data.records. No contact data. sourceRecordId
 * derives from the change's recordId, so a re-sent change carries the same ids.
 */
export function dataRecordsOf(change: EntryChange): DataRecord[] {
  const occurredAt = Date.parse(change.updated ?? '') || change.approximateCreationTime;
  const deleted = change.kind === 'DELETE';
  const markets = deleted ? [] : [...new Set(change.entry!.markets)];
  const dropped = [...new Set(change.previousMarkets)].filter((m) => !markets.includes(m));
  const base = { occurredAt, source: DATA_RECORDS_SOURCE };
  const registration = {
    campaignId: change.campaignId,
    globalUserId: change.globalUserId,
    markets: deleted ? change.previousMarkets : markets,
    linkedFrom: change.entry?.linkedFrom ?? null,
    locale: change.entry?.locale ?? null,
    marketingOptIn: change.entry ? change.entry.marketing.emailOptIn : null,
    createdAt: change.entry?.createdAt ?? null,
    updatedAt: change.updated,
    fanModifiedAt: change.fanModified,
    deleted,
  };
  const market = (marketId: string, preference: number | null, gone: boolean): DataRecord => ({
    ...base,
    type: 'REGISTERED_MARKET',
    sourceRecordId: `${change.recordId}:${marketId}`,
    data: JSON.stringify({
      campaignId: change.campaignId,
      marketId,
      globalUserId: change.globalUserId,
      preference,
      updatedAt: change.updated,
      deleted: gone,
    }),
  });
  return [
    { ...base, type: 'REGISTRATION', sourceRecordId: change.recordId, data: JSON.stringify(registration) },
    ...markets.map((m, i) => market(m, i + 1, false)),
    ...dropped.map((m) => market(m, null, true)),
  ];
}
