import { describe, expect, it } from 'vitest';
import {
  type ReminderRecipient,
  reminderEmailsDue,
  reminderExport,
  scheduleReminderEmails,
} from './reminder-emails.ts';

const at = (iso: string) => new Date(iso);
const NOW = at('2026-03-08T17:00:00Z');

describe('reminderEmailsDue', () => {
  it('takes the earliest due date of each due campaign and leaves the others for later', () => {
    const due = reminderEmailsDue(
      [
        {
          id: 'b',
          sendReminderEmails: [
            at('2026-03-09T17:00:00Z'),
            at('2026-03-08T16:00:00Z'),
            at('2026-03-08T15:00:00Z'),
          ],
        },
        { id: 'a', sendReminderEmails: [at('2026-03-08T17:00:00Z')] },
        { id: 'later', sendReminderEmails: [at('2026-03-08T17:00:00.001Z')] },
        { id: 'none', sendReminderEmails: [] },
      ],
      NOW,
    );
    expect(due).toEqual([
      {
        campaignId: 'b',
        dueAt: at('2026-03-08T15:00:00Z'),
        remaining: [at('2026-03-09T17:00:00Z'), at('2026-03-08T16:00:00Z')],
      },
      { campaignId: 'a', dueAt: at('2026-03-08T17:00:00Z'), remaining: [] },
    ]);
  });

  it('removes only one copy of a date listed twice', () => {
    const [due] = reminderEmailsDue(
      [{ id: 'c', sendReminderEmails: [at('2026-03-08T10:00:00Z'), at('2026-03-08T10:00:00Z')] }],
      NOW,
    );
    expect(due!.remaining).toEqual([at('2026-03-08T10:00:00Z')]);
  });
});

describe('reminderExport', () => {
  const recipients: ReminderRecipient[] = [
    {
      email: 'Zoe@Example.com',
      name: 'Zoë "Z" Martin',
      marketId: 'la',
      marketName: 'Los Angeles',
      code: 'ABC123',
      presaleAt: at('2026-03-09T17:30:00Z'),
      timezone: 'America/Los_Angeles',
    },
    {
      email: 'amy@example.com',
      name: '=HYPERLINK("x")',
      marketId: 'la',
      marketName: 'Los Angeles',
      code: 'ABC123',
      presaleAt: at('2026-03-09T17:30:00Z'),
      timezone: 'America/Los_Angeles',
    },
    {
      email: 'amy@example.com',
      name: 'Amy, Jr.',
      marketId: 'mtl',
      marketName: 'Montréal',
      code: 'QC-9',
      presaleAt: at('2026-11-01T14:00:00Z'),
      timezone: 'America/Toronto',
    },
  ];

  it('writes one sorted row per recipient and market, quoted, with the presale in the market zone', () => {
    const file = reminderExport('camp-1', at('2026-03-08T15:00:00Z'), recipients);
    expect(file.key).toBe('reminder-emails/camp-1/2026-03-08T15:00:00.000Z.csv');
    expect(file.rows).toBe(3);
    expect(file.body).toBe(
      [
        'email,name,market_id,market,code,presale_at',
        `amy@example.com,"'=HYPERLINK(""x"")",la,Los Angeles,ABC123,2026-03-09T10:30:00-07:00`,
        'amy@example.com,"Amy, Jr.",mtl,Montréal,QC-9,2026-11-01T09:00:00-05:00',
        'zoe@example.com,"Zoë ""Z"" Martin",la,Los Angeles,ABC123,2026-03-09T10:30:00-07:00',
        '',
      ].join('\r\n'),
    );
  });

  it('is the same object, byte for byte, whatever the order the recipients come in (a rerun after a crash)', () => {
    const first = reminderExport('camp-1', at('2026-03-08T15:00:00Z'), recipients);
    const rerun = reminderExport('camp-1', at('2026-03-08T15:00:00Z'), [...recipients].reverse());
    expect(rerun).toEqual(first);
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('drops exact duplicate rows and gives another reminder date its own key', () => {
    const file = reminderExport('camp-1', at('2026-03-09T15:00:00Z'), [recipients[0]!, recipients[0]!]);
    expect(file.rows).toBe(1);
    expect(file.key).toBe('reminder-emails/camp-1/2026-03-09T15:00:00.000Z.csv');
  });
});

describe('scheduleReminderEmails (a campaign definition applied)', () => {
  const a = at('2026-03-07T17:00:00Z');
  const b = at('2026-03-08T17:00:00Z');
  const c = at('2026-03-09T17:00:00Z');

  it("arms the file's dates, earliest first, one per instant", () => {
    expect(
      scheduleReminderEmails({ pending: [], triggered: [] }, [c, a, at('2026-03-07T09:00:00-08:00')]),
    ).toEqual({
      pending: [a, c],
      added: [a, c],
      cancelled: [],
      alreadyTriggered: [],
      changed: true,
    });
  });

  it('the same file again changes nothing', () => {
    expect(scheduleReminderEmails({ pending: [c, a], triggered: [] }, [a, c])).toMatchObject({
      pending: [a, c],
      added: [],
      cancelled: [],
      changed: false,
    });
  });

  it('never re-arms a date already exported', () => {
    expect(scheduleReminderEmails({ pending: [c], triggered: [a] }, [a, c])).toEqual({
      pending: [c],
      added: [],
      cancelled: [],
      alreadyTriggered: [a],
      changed: false,
    });
  });

  it('adds new dates and cancels pending ones the file no longer lists', () => {
    expect(scheduleReminderEmails({ pending: [a, b], triggered: [] }, [b, c])).toEqual({
      pending: [b, c],
      added: [c],
      cancelled: [a],
      alreadyTriggered: [],
      changed: true,
    });
    expect(scheduleReminderEmails({ pending: [a], triggered: [] }, [])).toMatchObject({
      pending: [],
      cancelled: [a],
      changed: true,
    });
  });
});
