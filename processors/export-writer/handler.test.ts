import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../lib/clock.ts';
import type { ExportRequest } from '../../schemas/types.generated.ts';
import { MemoryExportBucket } from '../../stores/export-bucket.ts';
import { MemoryNotificationCampaigns } from '../../stores/notification-campaigns.ts';
import { MemoryNotificationStateStore } from '../../stores/notification-state.ts';
import { MemoryWinnerQueries } from '../../stores/winners.ts';
import { closedCampaign, scoringRows } from '../../test/fixtures/notifications.ts';
import { writeReminderExport } from './handler.ts';

const DUE = new Date('2026-11-01T16:00:00.000Z');
const request: ExportRequest = {
  exportId: `c1@${DUE.toISOString()}`,
  kind: 'REMINDER_EMAILS',
  campaignId: 'c1',
  dueAt: DUE.getTime(),
  tickId: 'reminder-emails@2026-11-01T16:00:00.000Z',
  requestedAt: DUE.getTime(),
};

function setup() {
  const campaigns = new MemoryNotificationCampaigns();
  const state = new MemoryNotificationStateStore();
  const winners = new MemoryWinnerQueries(scoringRows('c1', 'lax', 3));
  for (const r of winners.rows)
    winners.users.set(r.globalUserId, {
      email: `${r.globalUserId}@Example.com`,
      firstName: 'Ana',
      lastName: r.globalUserId,
    });
  const bucket = new MemoryExportBucket();
  const clock = new SimulatedClock(new Date('2026-11-01T16:05:00.000Z'));
  const log = { info: () => {}, warn: () => {} };
  campaigns.campaigns.set('c1', closedCampaign('c1'));
  return {
    campaigns,
    state,
    winners,
    bucket,
    clock,
    log,
    resources: { campaigns, state, winners, bucket, clock },
  };
}

describe('export-writer', () => {
  it('writes the CSV of the winners with a code, then removes the date and sets date.triggeredEmailReminders', async () => {
    const s = setup();
    await s.state.setReminderEmailDates('c1', [DUE, new Date('2026-11-02T16:00:00Z')]);
    const out = await writeReminderExport(request, s.resources, s.log);
    // 3 winners + the +44 and de-DE winners (email needs no +1 phone); the loser and the code-less are out
    expect(out).toMatchObject({
      status: 'EXPORTED',
      key: 'reminder-emails/c1/2026-11-01T16:00:00.000Z.csv',
      rows: 5,
      uploaded: true,
    });
    const body = s.bucket.objects.get('reminder-emails/c1/2026-11-01T16:00:00.000Z.csv')!.body;
    expect(body.split('\r\n')[0]).toBe('email,name,market_id,market,code,presale_at');
    expect(body).toContain(
      'fan-000000@example.com,Ana fan-000000,lax,Los Angeles,CODE-lax-0,2026-11-02T10:30:00-08:00',
    );
    expect(body).not.toContain('x-loser');
    const after = await s.state.getReminderEmails('c1');
    expect(after?.sendReminderEmails).toEqual([new Date('2026-11-02T16:00:00Z')]);
    expect(after?.triggeredEmailReminders).toEqual(new Date('2026-11-01T16:05:00.000Z'));
    expect(after?.triggered).toEqual([{ dueAt: DUE, triggeredAt: new Date('2026-11-01T16:05:00.000Z') }]);
    expect(await writeReminderExport(request, s.resources, s.log)).toEqual({ status: 'ALREADY_DONE' });
    expect(s.bucket.puts).toBe(1);
  });

  it('after a crash between upload and update, the rerun keeps the one object and completes', async () => {
    const s = setup();
    await s.state.setReminderEmailDates('c1', [DUE]);
    const complete = s.state.completeReminderEmails.bind(s.state);
    s.state.completeReminderEmails = async () => {
      throw new Error('crash');
    };
    await expect(writeReminderExport(request, s.resources, s.log)).rejects.toThrow('crash');
    const first = [...s.bucket.objects.entries()];
    s.state.completeReminderEmails = complete;
    expect(await writeReminderExport(request, s.resources, s.log)).toMatchObject({
      status: 'EXPORTED',
      uploaded: false,
    });
    expect([...s.bucket.objects.entries()]).toEqual(first);
    expect(s.bucket.puts).toBe(1);
    expect((await s.state.getReminderEmails('c1'))?.sendReminderEmails).toEqual([]);
  });

  it('skips a missing campaign', async () => {
    const s = setup();
    await s.state.setReminderEmailDates('ghost', [DUE]);
    expect(await writeReminderExport({ ...request, campaignId: 'ghost' }, s.resources, s.log)).toEqual({
      status: 'CAMPAIGN_NOT_FOUND',
    });
    expect(s.bucket.puts).toBe(0);
  });
});
