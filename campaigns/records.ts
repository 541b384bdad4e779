import type { DataRecord } from '../lib/data-records.ts';
import type { Campaign, Market } from './campaign.ts';

// Which data.records a campaign change emits (pure). Every change emits CAMPAIGN; MARKET for each
// market added, changed or removed; EVENT_MAPPING for each market whose event link is new, changed
// or gone. Ids are derived from (campaign, version, type, market) so the same change always maps to
// the same sourceRecordId: a relay that publishes twice publishes the same records.

export const CAMPAIGN_SOURCE = 'campaign-service';

export function campaignChangeRecords(before: Campaign | undefined, after: Campaign): DataRecord[] {
  const occurredAt = after.date.updated;
  const base = `campaign:${after.id}:v${after.version}`;
  const records: DataRecord[] = [
    {
      type: 'CAMPAIGN',
      data: {
        campaignId: after.id,
        name: after.name,
        status: after.status,
        version: after.version,
        closedAt: after.closedAt ?? null,
        gate: { ...after.gate, linkedCampaignId: after.gate.linkedCampaignId ?? null },
        requiredFields: after.fields.required,
        inviteCount: after.inviteCount,
        marketIds: after.markets.map((m) => m.id),
        seedHash: after.seedHash ?? null,
      },
      occurredAt,
      source: CAMPAIGN_SOURCE,
      sourceRecordId: `${base}:CAMPAIGN`,
    },
  ];
  const old = new Map((before?.markets ?? []).map((m) => [m.id, m]));
  const current = new Map(after.markets.map((m) => [m.id, m]));
  for (const market of after.markets) {
    const prev = old.get(market.id);
    if (!prev || !sameJson(marketData(after.id, prev), marketData(after.id, market))) {
      records.push(marketRecord(after.id, market, false, occurredAt, base));
    }
    if (!prev || !sameJson(prev.event, market.event)) {
      records.push(eventMappingRecord(after.id, market, false, occurredAt, base));
    }
  }
  for (const [id, market] of old) {
    if (current.has(id)) continue;
    records.push(marketRecord(after.id, market, true, occurredAt, base));
    records.push(eventMappingRecord(after.id, market, true, occurredAt, base));
  }
  return records;
}

function marketData(campaignId: string, m: Market): Record<string, unknown> {
  return {
    campaignId,
    marketId: m.id,
    name: m.name,
    ticketer: m.ticketer,
    presaleStartsAt: m.presale.startsAt,
    timeZone: m.presale.timeZone,
    locales: m.locales,
    automatedReminders: m.options.automatedReminders,
  };
}

function marketRecord(campaignId: string, m: Market, deleted: boolean, at: string, base: string): DataRecord {
  return {
    type: 'MARKET',
    data: { ...marketData(campaignId, m), deleted },
    occurredAt: at,
    source: CAMPAIGN_SOURCE,
    sourceRecordId: `${base}:MARKET:${m.id}`,
  };
}

function eventMappingRecord(
  campaignId: string,
  m: Market,
  deleted: boolean,
  at: string,
  base: string,
): DataRecord {
  return {
    type: 'EVENT_MAPPING',
    data: { campaignId, marketId: m.id, eventId: m.event.id, eventUrl: m.event.url, deleted },
    occurredAt: at,
    source: CAMPAIGN_SOURCE,
    sourceRecordId: `${base}:EVENT_MAPPING:${m.id}`,
  };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
