import { UsageError } from '../lib/errors.ts';
import type { CampaignStore } from '../stores/campaigns.ts';
import { type AuditReport, type AuditRow, auditMarket } from './draw.ts';
import type { SelectionStore } from './store.ts';

// The audit of a market's draw (`regflow audit`, the demo): the revealed seed, the finished runs
// in the order they started, every stored scoring row, and the recomputed ranking compared with
// each row's verdict, run and code.

export interface DrawAudit {
  seed: string;
  seedHash: string;
  runs: Array<{ runId: string; winners: number }>;
  report: AuditReport;
}

export async function auditDraw(
  stores: { selection: SelectionStore; campaigns: Pick<CampaignStore, 'get'> },
  campaignId: string,
  marketId: string,
): Promise<DrawAudit> {
  const seed = await stores.selection.getSeed(campaignId);
  if (!seed?.revealedAt)
    throw new UsageError(`campaign ${campaignId} has no revealed seed yet: no run finished`);
  const campaign = await stores.campaigns.get(campaignId);
  const market = campaign?.markets.find((m) => m.id === marketId);
  if (!market) throw new UsageError(`campaign ${campaignId} has no market ${marketId}`);
  const runs = (await stores.selection.listRuns(campaignId, marketId))
    .filter((r) => r.status === 'FINISHED')
    .map((r) => ({ runId: r.runId, winners: r.processed }));
  const rows = (await stores.selection.allRows(campaignId, marketId).toArray()) as AuditRow[];
  const report = auditMarket(seed.seed, rows, runs, { sharedCode: market.ticketer === 'TM' });
  return { seed: seed.seed, seedHash: seed.seedHash, runs, report };
}
