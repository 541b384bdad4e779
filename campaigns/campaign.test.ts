import { describe, expect, it } from 'vitest';
import { ValidationError } from '../lib/errors.ts';
import { validDefinition } from '../test/fixtures/campaigns.ts';
import { applyStatus, CAMPAIGN_STATUSES, canTransition, parseCampaignDefinition } from './campaign.ts';

describe('campaign definition', () => {
  it('accepts a full definition and always requires email', () => {
    const def = parseCampaignDefinition({ ...validDefinition(), fields: { required: ['phone'] } });
    expect(def.fields.required).toEqual(['email', 'phone']);
    expect(def.markets[0]?.options.automatedReminders).toBe(true);
  });

  it('takes reminder email dates as instants with their offset', () => {
    const def = parseCampaignDefinition({
      ...validDefinition(),
      date: { sendReminderEmails: ['2027-02-28T10:00:00-05:00', '2027-02-27T15:00:00Z'] },
    });
    expect(def.date?.sendReminderEmails).toEqual(['2027-02-28T10:00:00-05:00', '2027-02-27T15:00:00Z']);
    expect(parseCampaignDefinition(validDefinition()).date).toBeUndefined();
  });

  it('fills defaults: DRAFT, no gates, reminders off', () => {
    const { status: _s, gate: _g, fields: _f, ...rest } = validDefinition();
    const m = { ...validDefinition().markets[0], options: undefined };
    const def = parseCampaignDefinition({ ...rest, markets: [m] });
    expect(def.status).toBe('DRAFT');
    expect(def.gate).toEqual({ inviteOnly: false, idvRequired: false });
    expect(def.markets[0]?.options.automatedReminders).toBe(false);
  });

  it.each([
    [{ id: 'bad id!' }, 'id'],
    [{ status: 'OPEN' }, 'status'],
    [{ markets: [] }, 'markets'],
    [{ gate: { inviteOnly: 'yes' } }, 'gate.inviteOnly'],
    [{ gate: { linkedCampaignId: 'spring-tour' } }, 'gate.linkedCampaignId'],
    [{ fields: { required: ['shoeSize'] } }, 'fields.required.0'],
    [{ invites: ['not-an-email'] }, 'invites.0'],
    [{ extra: 1 }, '(root)'],
    [
      { date: { sendReminderEmails: ['2027-02-28T10:00:00-05:00', 'tomorrow'] } },
      'date.sendReminderEmails.1',
    ],
    [{ date: { sendReminderEmails: ['2027-02-28T10:00:00'] } }, 'date.sendReminderEmails.0'],
    [{ date: { sendReminderEmails: ['2027-02-30T10:00:00Z'] } }, 'date.sendReminderEmails.0'],
    [{ date: { sendReminderEmails: '2027-02-28T10:00:00Z' } }, 'date.sendReminderEmails'],
    [
      { date: { sendReminderEmails: ['2027-02-28T10:00:00-05:00', '2027-02-28T15:00:00Z'] } },
      'date.sendReminderEmails.1',
    ],
    [{ date: { created: '2027-02-28T10:00:00Z' } }, 'date'],
  ])('rejects %j naming the field %s', (patch, field) => {
    const attempt = () => parseCampaignDefinition({ ...validDefinition(), ...patch });
    expect(attempt).toThrow(ValidationError);
    try {
      attempt();
    } catch (err) {
      expect((err as ValidationError).field).toBe(field);
    }
  });

  it.each([
    [{ ticketer: 'LN' }, 'markets.0.ticketer'],
    [
      { presale: { startsAt: '2027-03-01 10:00', timeZone: 'America/New_York' } },
      'markets.0.presale.startsAt',
    ],
    [
      { presale: { startsAt: '2027-03-01T10:00:00+01:00', timeZone: 'America/New_York' } },
      'markets.0.presale.startsAt',
    ],
    [
      { presale: { startsAt: '2027-02-30T10:00:00-05:00', timeZone: 'America/New_York' } },
      'markets.0.presale.startsAt',
    ],
    [
      { presale: { startsAt: '2027-03-01T10:00:00-05:00', timeZone: 'Mars/Olympus' } },
      'markets.0.presale.timeZone',
    ],
    [{ event: { id: 'e', url: 'not a url' } }, 'markets.0.event.url'],
    [{ locales: ['not a locale!'] }, 'markets.0.locales.0'],
    [{ locales: [] }, 'markets.0.locales'],
  ])('rejects a market with %j naming %s', (patch, field) => {
    const def = validDefinition();
    const market = { ...def.markets[0], ...patch };
    try {
      parseCampaignDefinition({ ...def, markets: [market] });
      expect.unreachable('should have thrown');
    } catch (err) {
      expect((err as ValidationError).field).toBe(field);
    }
  });

  it('checks the presale offset against the zone, summer time included', () => {
    const def = validDefinition();
    const summer = { startsAt: '2027-07-01T10:00:00-04:00', timeZone: 'America/New_York' };
    expect(() =>
      parseCampaignDefinition({ ...def, markets: [{ ...def.markets[0], presale: summer }] }),
    ).not.toThrow();
  });

  it('rejects duplicate market ids', () => {
    const def = validDefinition();
    expect(() => parseCampaignDefinition({ ...def, markets: [def.markets[0], def.markets[0]] })).toThrow(
      /markets\.1\.id: duplicate/,
    );
  });
});

describe('campaign statuses', () => {
  const now = new Date('2027-02-01T00:00:00Z');

  it('allows exactly the listed transitions', () => {
    const allowed = CAMPAIGN_STATUSES.flatMap((from) =>
      CAMPAIGN_STATUSES.filter((to) => to !== from && canTransition(from, to)).map((to) => `${from}->${to}`),
    );
    expect(allowed.sort()).toEqual(
      [
        'DRAFT->ACTIVE',
        'DRAFT->CLOSED',
        'ACTIVE->TRANSFERRING',
        'ACTIVE->CLOSED',
        'TRANSFERRING->ACTIVE',
        'TRANSFERRING->CLOSED',
      ].sort(),
    );
  });

  it('records the close time when closing, and keeps it', () => {
    expect(applyStatus({ status: 'ACTIVE' }, 'CLOSED', now)).toEqual({
      status: 'CLOSED',
      closedAt: '2027-02-01T00:00:00.000Z',
    });
    expect(applyStatus({ status: 'ACTIVE' }, 'TRANSFERRING', now)).toEqual({ status: 'TRANSFERRING' });
  });

  it('refuses to reopen a closed campaign, naming the status field', () => {
    expect(() => applyStatus({ status: 'CLOSED', closedAt: 'x' }, 'ACTIVE', now)).toThrow(
      /status: cannot go from CLOSED to ACTIVE \(allowed: none/,
    );
    expect(() => applyStatus({ status: 'DRAFT' }, 'TRANSFERRING', now)).toThrow(ValidationError);
  });
});
