import { describe, expect, it } from 'vitest';
import { routeDataRecord } from '../processors/analytics-router/records.ts';
import { MemoryCampaignStore } from '../stores/memory.ts';
import { MemoryNotificationStateStore } from '../stores/notification-state.ts';
import { envelope } from '../test/fixtures/analytics-samples.ts';
import { validDefinition } from '../test/fixtures/campaigns.ts';
import { parseInviteFile } from './invites.ts';
import { CampaignService, NotFoundError } from './service.ts';

const setup = () => {
  const store = new MemoryCampaignStore();
  const reminderEmails = new MemoryNotificationStateStore();
  let t = Date.parse('2027-01-01T00:00:00Z');
  const refreshed: string[] = [];
  const service = new CampaignService({
    store,
    clock: () => {
      t += 1000;
      return new Date(t);
    },
    cache: { refresh: async (id) => void refreshed.push(id) },
    reminderEmails,
  });
  const outbox = async () => (await store.pendingOutbox(10)).flatMap((b) => b.records);
  return { store, service, outbox, refreshed, reminderEmails };
};

describe('campaign service', () => {
  it('creates a campaign and queues CAMPAIGN, MARKET and EVENT_MAPPING records with it', async () => {
    const { service, outbox, refreshed } = setup();
    const { outcome, campaign } = await service.apply(validDefinition());
    expect(outcome).toBe('created');
    expect(campaign.version).toBe(1);
    expect((await outbox()).map((r) => `${r.type}:${r.sourceRecordId}`)).toEqual([
      'CAMPAIGN:campaign:spring-tour:v1:CAMPAIGN',
      'MARKET:campaign:spring-tour:v1:MARKET:nyc',
      'EVENT_MAPPING:campaign:spring-tour:v1:EVENT_MAPPING:nyc',
    ]);
    expect(refreshed).toEqual(['spring-tour']);
  });

  it('applying the same file again changes nothing and emits nothing', async () => {
    const { service, store, outbox } = setup();
    await service.apply(validDefinition());
    await store.removeFromOutbox(
      'spring-tour',
      (await outbox()).map((r) => r.sourceRecordId),
    );
    expect((await service.apply(validDefinition())).outcome).toBe('unchanged');
    expect(await outbox()).toEqual([]);
  });

  it('emits MARKET only for changed markets, EVENT_MAPPING only for changed event links', async () => {
    const { service, store, outbox } = setup();
    await service.apply(validDefinition());
    await store.removeFromOutbox(
      'spring-tour',
      (await outbox()).map((r) => r.sourceRecordId),
    );
    const def = validDefinition();
    const la = {
      ...def.markets[0],
      id: 'la',
      name: 'Los Angeles',
      event: { id: 'evt-2', url: 'https://x.example/2' },
    };
    la.presale = { startsAt: '2027-03-01T10:00:00-08:00', timeZone: 'America/Los_Angeles' };
    const nyc = { ...def.markets[0], name: 'NYC' };
    await service.apply({ ...def, markets: [nyc, la] });
    expect((await outbox()).map((r) => r.sourceRecordId)).toEqual([
      'campaign:spring-tour:v2:CAMPAIGN',
      'campaign:spring-tour:v2:MARKET:nyc',
      'campaign:spring-tour:v2:MARKET:la',
      'campaign:spring-tour:v2:EVENT_MAPPING:la',
    ]);
  });

  it('enforces transitions and records the close time', async () => {
    const { service } = setup();
    await service.apply(validDefinition());
    await expect(service.setStatus('spring-tour', 'DRAFT')).rejects.toThrow(
      /status: cannot go from ACTIVE to DRAFT/,
    );
    const closed = await service.setStatus('spring-tour', 'CLOSED');
    expect(closed.campaign.closedAt).toMatch(/^2027-01-01T/);
    await expect(service.apply(validDefinition())).rejects.toThrow(/cannot go from CLOSED to ACTIVE/);
    await expect(service.setStatus('nope', 'ACTIVE')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('stores date.sendReminderEmails beside the campaign; re-applying never re-arms a sent date', async () => {
    const { service, reminderEmails, outbox, store } = setup();
    const d1 = '2027-02-28T10:00:00-05:00';
    const d2 = '2027-03-01T08:00:00-05:00';
    const withDates = (...dates: string[]) => ({ ...validDefinition(), date: { sendReminderEmails: dates } });
    const first = await service.apply(withDates(d2, d1));
    expect(first.outcome).toBe('created');
    expect(first.reminderEmails).toMatchObject({
      pending: [new Date(d1), new Date(d2)],
      added: [new Date(d1), new Date(d2)],
      changed: true,
    });
    expect(first.campaign).not.toHaveProperty('date.sendReminderEmails');
    expect((await reminderEmails.getReminderEmails('spring-tour'))?.sendReminderEmails).toEqual([
      new Date(d1),
      new Date(d2),
    ]);
    // the same file again: nothing changes, nothing is emitted
    await store.removeFromOutbox(
      'spring-tour',
      (await outbox()).map((r) => r.sourceRecordId),
    );
    const again = await service.apply(withDates(d2, d1));
    expect(again).toMatchObject({ outcome: 'unchanged', reminderEmails: { changed: false, added: [] } });
    expect(await outbox()).toEqual([]);
    // d1 is exported; the same file again does not re-arm it
    await reminderEmails.completeReminderEmails(
      'spring-tour',
      new Date(d1),
      new Date('2027-02-28T15:05:00Z'),
    );
    const afterExport = await service.apply(withDates(d2, d1));
    expect(afterExport.reminderEmails).toMatchObject({
      pending: [new Date(d2)],
      alreadyTriggered: [new Date(d1)],
      changed: false,
    });
    // a file without d2 cancels it; one without date leaves the dates alone
    expect((await service.apply(withDates(d1))).reminderEmails).toMatchObject({
      pending: [],
      cancelled: [new Date(d2)],
    });
    await service.apply(withDates(d2));
    expect((await service.apply(validDefinition())).reminderEmails).toBeUndefined();
    expect((await reminderEmails.getReminderEmails('spring-tour'))?.sendReminderEmails).toEqual([
      new Date(d2),
    ]);
  });

  it('a bad reminder email date is refused naming the field, and nothing is stored', async () => {
    const { service, reminderEmails, store } = setup();
    await expect(
      service.apply({ ...validDefinition(), date: { sendReminderEmails: ['2027-02-28'] } }),
    ).rejects.toMatchObject({ field: 'date.sendReminderEmails.0' });
    expect(await store.get('spring-tour')).toBeUndefined();
    expect(await reminderEmails.getReminderEmails('spring-tour')).toBeUndefined();
  });

  it('closing fixes the selection seed hash first and publishes it with the close (CAMPAIGN record)', async () => {
    const store = new MemoryCampaignStore();
    const seeds: string[] = [];
    const service = new CampaignService({
      store,
      seedHashAtClose: async (id) => {
        seeds.push(id);
        return 'ab'.repeat(32);
      },
    });
    const outbox = async () => (await store.pendingOutbox(10)).flatMap((b) => b.records);
    await service.apply(validDefinition());
    expect((await outbox())[0]?.data).toMatchObject({ status: 'ACTIVE', seedHash: null });
    const closed = await service.setStatus('spring-tour', 'CLOSED');
    expect(closed.campaign.seedHash).toBe('ab'.repeat(32));
    const record = (await outbox()).find((r) => r.sourceRecordId === 'campaign:spring-tour:v2:CAMPAIGN')!;
    expect(record.data).toMatchObject({ status: 'CLOSED', seedHash: 'ab'.repeat(32) });
    // What analytics gets on its campaign topic.
    const routed = routeDataRecord(envelope('CAMPAIGN', record.data, { source: record.source }));
    expect(routed.ok && routed.value).toMatchObject({ status: 'CLOSED', seedHash: 'ab'.repeat(32) });
    // Later changes keep the hash and ask for no other seed.
    await service.importInvites('spring-tour', ['a@example.com']);
    expect((await service.get('spring-tour'))?.seedHash).toBe('ab'.repeat(32));
    expect(seeds).toEqual(['spring-tour']);
  });

  it('a close whose seed cannot be made fails whole: nothing written, nothing published', async () => {
    const store = new MemoryCampaignStore();
    const service = new CampaignService({
      store,
      seedHashAtClose: async () => {
        throw new Error('seed store unreachable');
      },
    });
    await service.apply(validDefinition());
    await expect(service.setStatus('spring-tour', 'CLOSED')).rejects.toThrow(/seed store unreachable/);
    expect((await service.get('spring-tour'))?.status).toBe('ACTIVE');
    expect((await store.pendingOutbox(10)).flatMap((b) => b.records)).toHaveLength(3);
  });

  it('imports invites idempotently and bumps the version so caches refresh', async () => {
    const { service } = setup();
    await service.apply(validDefinition());
    expect(await service.importInvites('spring-tour', ['A@Example.com', 'b@example.com'])).toEqual({
      added: 2,
      total: 2,
    });
    expect(await service.importInvites('spring-tour', ['a@example.com'])).toEqual({ added: 0, total: 2 });
    expect((await service.get('spring-tour'))?.version).toBe(2);
  });
});

describe('invite files', () => {
  it('reads one email per line or a CSV first column, skipping header, blanks and comments', () => {
    expect(parseInviteFile('email,name\nA@x.com,Ann\n\n# vip\n"b@x.com",Bob\na@x.com\n')).toEqual([
      'a@x.com',
      'b@x.com',
    ]);
  });

  it('names the bad line', () => {
    expect(() => parseInviteFile('a@x.com\nnot-an-email\n')).toThrow(/line 2: not an email address/);
  });
});
