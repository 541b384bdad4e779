import { MongoEntryStore } from '../stores/entries.ts';
import { type DemoContext, until } from './context.ts';
import { campaignIds, registrationOf } from './fans.ts';
import type { Timeline } from './timeline.ts';
import { localIso } from './timeline.ts';

// Scenario 2 (spec: invite-only campaign with linked transfer): a VIP presale open to an invite
// list of 1,000 emails and to fans of an earlier campaign who ask for the transfer.
//   Fan A, invited                                  → eligible
//   Fan B, not invited, registered in the earlier one, doTransfer → eligible, linkedFrom = it
//   Fan C, neither                                  → NOT_INVITED, detail.gateType 'invite'
// Then A and B reach the entry store (B with linkedFrom), C does not.

const S2 = 'Scenario 2';
const MARKET = 'nyc';

function campaign(id: string, name: string, t: Timeline, gate: Record<string, unknown>) {
  return {
    id,
    name,
    status: 'ACTIVE',
    gate: { idvRequired: false, ...gate },
    fields: { required: ['email'] },
    markets: [
      {
        id: MARKET,
        name: 'New York – Madison Square Garden',
        ticketer: 'TM',
        presale: { startsAt: localIso(t.presaleAt, 'America/New_York'), timeZone: 'America/New_York' },
        event: { id: `${id}-event`, url: 'https://tickets.example.com/event/nyc' },
        locales: ['en-US'],
      },
    ],
  };
}

export async function runScenario2(ctx: DemoContext, t: Timeline): Promise<void> {
  const { report, api, runId } = ctx;
  const { linked, vip } = campaignIds(runId);
  const fan = (name: string) => `${runId}-s2-fan-${name}`;
  const entryOf = (name: string, i: number, extra: { doTransfer?: boolean } = {}) => ({
    ...registrationOf(runId, i, [MARKET]),
    email: `${fan(name)}@fans.example.com`,
    ...extra,
  });

  await report.stage(S2, 'campaigns and invites (admin API)', async (p) => {
    await api.applyCampaign(
      campaign(linked, 'Scenario 2 – the earlier tour (XYZ)', t, { inviteOnly: false }),
    );
    await api.applyCampaign(
      campaign(vip, 'Scenario 2 – VIP presale', t, { inviteOnly: true, linkedCampaignId: linked }),
    );
    const invites = [
      `${fan('a')}@fans.example.com`,
      ...Array.from({ length: 999 }, (_, i) => `${runId}-vip-${i}@fans.example.com`),
    ];
    await api.importInvites(vip, invites);
    const b = await api.register(linked, fan('b'), entryOf('b', 2));
    report.equal(S2, 'Fan B registers in the earlier campaign', b.status, 200);
    p.counts(`${vip} (invite-only, linked to ${linked}), ${invites.length} invites`);
  });

  await report.stage(S2, 'registrations (HTTP API)', async (p) => {
    const a = await api.register(vip, fan('a'), entryOf('a', 1));
    report.equal(S2, 'Fan A (invited): HTTP status', a.status, 200);
    report.equal(S2, 'Fan A (invited): isEligible', a.body.isEligible, true);

    const b = await api.register(vip, fan('b'), entryOf('b', 2, { doTransfer: true }));
    const bEntry = (b.body.entry ?? {}) as Record<string, unknown>;
    report.equal(S2, 'Fan B (transfer): HTTP status', b.status, 200);
    report.equal(S2, 'Fan B (transfer): linkedCampaignId', b.body.linkedCampaignId, linked);
    report.equal(S2, 'Fan B (transfer): entry written with linkedFrom', bEntry.linkedFrom, linked);

    const c = await api.register(vip, fan('c'), entryOf('c', 3));
    const detail = (c.body.detail ?? {}) as Record<string, unknown>;
    report.equal(S2, 'Fan C (neither): HTTP status', c.status, 422);
    report.equal(S2, 'Fan C (neither): reason', c.body.reason, 'NOT_INVITED');
    report.equal(S2, 'Fan C (neither): detail.gateType', detail.gateType, 'invite');
    p.counts(
      `A ${a.status}, B ${b.status} (linkedFrom ${String(bEntry.linkedFrom)}), C ${c.status} ${String(c.body.reason)}`,
    );
  });

  await report.stage(S2, 'replicated to the entry store', async (p) => {
    const entries = new MongoEntryStore(ctx.db);
    await until(
      'Fan A and Fan B in the entry store',
      async () => {
        const n = await entries.countEntries(vip);
        return { done: n >= 2, status: `${n}/2 entries of ${vip}` };
      },
      { timeoutMs: 120_000, progress: p.update },
    );
    const b = await entries.getEntry(vip, fan('b'));
    report.equal(S2, 'entry store: VIP entries (A and B, not C)', await entries.countEntries(vip), 2);
    report.equal(S2, 'entry store: Fan B linkedFrom', b?.linkedFrom, linked);
    report.equal(
      S2,
      'entry store: Fan C absent',
      (await entries.getEntry(vip, fan('c'))) === undefined,
      true,
    );
    p.counts('A and B replicated, B with linkedFrom; C never written');
  });
}
