import { describe, expect, it } from 'vitest';
import { type Campaign, type CampaignStatus, parseCampaignDefinition } from '../campaigns/campaign.ts';
import { validDefinition } from '../test/fixtures/campaigns.ts';
import { checkEligibility, type EntrySubmission, type Fan, needsLinkedEntryLookup } from './eligibility.ts';

const campaign = (patch: Record<string, unknown> = {}, status: CampaignStatus = 'ACTIVE'): Campaign => {
  const def = parseCampaignDefinition({ ...validDefinition(), ...patch, status });
  const { invites: _i, ...rest } = def;
  const la = {
    ...def.markets[0]!,
    id: 'la',
    locales: ['en-US', 'es-US'],
    presale: { startsAt: '2027-03-01T10:00:00-08:00', timeZone: 'America/Los_Angeles' },
  };
  return {
    ...rest,
    markets: [...def.markets, la],
    version: 1,
    inviteCount: 1,
    date: { created: 'x', updated: 'x' },
  };
};
const open = { gate: { inviteOnly: false, idvRequired: false } };
const fan: Fan = { globalUserId: 'fan-1', idvVerified: false };
const submission = (patch: Partial<EntrySubmission> = {}): EntrySubmission => ({
  email: ' Fan.One@Example.com ',
  firstName: 'Ann',
  lastName: "O'Neil",
  phone: '(212) 555-0100',
  postalCode: '10001',
  markets: ['nyc'],
  marketing: { emailOptIn: true },
  ...patch,
});
const noFacts = { invited: false };

describe('checkEligibility: campaign status', () => {
  it.each(['ACTIVE', 'TRANSFERRING'] as const)('accepts entries while %s', (status) => {
    expect(checkEligibility(campaign(open, status), fan, submission(), noFacts).isEligible).toBe(true);
  });

  it.each(['DRAFT', 'CLOSED'] as const)('answers CAMPAIGN_CLOSED while %s', (status) => {
    expect(checkEligibility(campaign(open, status), fan, submission(), noFacts)).toEqual({
      isEligible: false,
      reason: 'CAMPAIGN_CLOSED',
    });
  });
});

describe('checkEligibility: gates', () => {
  const inviteAndLinked = { gate: { inviteOnly: true, idvRequired: false, linkedCampaignId: 'fall-tour' } };

  it('admits an invited fan (Scenario 2, Fan A) without linkedFrom', () => {
    const r = checkEligibility(campaign(inviteAndLinked), fan, submission(), { invited: true });
    expect(r).toMatchObject({ isEligible: true });
    expect(r.isEligible && r.entry.linkedFrom).toBeFalsy();
  });

  it('admits a fan of the linked campaign asking for the transfer, with linkedFrom (Scenario 2, Fan B)', () => {
    const r = checkEligibility(campaign(inviteAndLinked), fan, submission({ doTransfer: true }), {
      invited: false,
      hasLinkedEntry: true,
    });
    expect(r).toMatchObject({
      isEligible: true,
      linkedCampaignId: 'fall-tour',
      entry: { linkedFrom: 'fall-tour', doTransfer: true },
    });
  });

  it('refuses a fan neither invited nor in the linked campaign with NOT_INVITED, gateType invite (Scenario 2, Fan C)', () => {
    expect(
      checkEligibility(campaign(inviteAndLinked), fan, submission({ doTransfer: true }), {
        invited: false,
        hasLinkedEntry: false,
      }),
    ).toEqual({ isEligible: false, reason: 'NOT_INVITED', detail: { gateType: 'invite' } });
  });

  it('does not transfer without doTransfer, even with a linked entry', () => {
    const r = checkEligibility(campaign(inviteAndLinked), fan, submission(), {
      invited: false,
      hasLinkedEntry: true,
    });
    expect(r).toMatchObject({ isEligible: false, reason: 'NOT_INVITED' });
  });

  it('with only a linked campaign, refuses outsiders with gateType linked', () => {
    const linkedOnly = { gate: { inviteOnly: false, idvRequired: false, linkedCampaignId: 'fall-tour' } };
    expect(
      checkEligibility(campaign(linkedOnly), fan, submission({ doTransfer: true }), {
        invited: false,
        hasLinkedEntry: false,
      }),
    ).toEqual({ isEligible: false, reason: 'NOT_INVITED', detail: { gateType: 'linked' } });
    expect(
      checkEligibility(campaign(linkedOnly), fan, submission({ doTransfer: true }), {
        invited: false,
        hasLinkedEntry: true,
      }).isEligible,
    ).toBe(true);
  });

  it('answers IDV_NOT_VERIFIED when IDV is required and the token does not say idv', () => {
    const idv = { gate: { inviteOnly: false, idvRequired: true } };
    expect(checkEligibility(campaign(idv), fan, submission(), noFacts)).toEqual({
      isEligible: false,
      reason: 'IDV_NOT_VERIFIED',
    });
    expect(
      checkEligibility(campaign(idv), { ...fan, idvVerified: true }, submission(), noFacts).isEligible,
    ).toBe(true);
  });

  it('checks the gate before IDV and IDV before the fields', () => {
    const both = { gate: { inviteOnly: true, idvRequired: true } };
    expect(checkEligibility(campaign(both), fan, submission({ phone: 'x' }), noFacts)).toMatchObject({
      reason: 'NOT_INVITED',
    });
    expect(
      checkEligibility(campaign(both), fan, submission({ phone: 'x' }), { invited: true }),
    ).toMatchObject({
      reason: 'IDV_NOT_VERIFIED',
    });
  });

  it('asks for the linked entry only when it can change the answer', () => {
    const c = campaign(inviteAndLinked);
    expect(needsLinkedEntryLookup(c, submission({ doTransfer: true }), false)).toBe(true);
    expect(needsLinkedEntryLookup(c, submission({ doTransfer: true }), true)).toBe(false);
    expect(needsLinkedEntryLookup(c, submission(), false)).toBe(false);
    expect(
      needsLinkedEntryLookup(campaign(inviteAndLinked, 'CLOSED'), submission({ doTransfer: true }), false),
    ).toBe(false);
    expect(needsLinkedEntryLookup(campaign(open), submission({ doTransfer: true }), false)).toBe(false);
  });
});

describe('checkEligibility: fields', () => {
  const invalid = (patch: Partial<EntrySubmission>, c = campaign(open)) => {
    const r = checkEligibility(c, fan, submission(patch), noFacts);
    if (r.isEligible) throw new Error('expected INVALID_ENTRY');
    expect(r.reason).toBe('INVALID_ENTRY');
    return r.detail?.field;
  };

  it('normalizes: email lower-cased, phone to E.164 (US default), postal code upper-cased, locale from the market', () => {
    const r = checkEligibility(campaign(open), fan, submission({ postalCode: 'sw1a 1aa' }), noFacts);
    expect(r).toEqual({
      isEligible: true,
      entry: {
        email: 'fan.one@example.com',
        firstName: 'Ann',
        lastName: "O'Neil",
        phone: '+12125550100',
        postalCode: 'SW1A 1AA',
        locale: 'en-US',
        markets: ['nyc'],
        marketing: { emailOptIn: true, smsOptIn: false },
      },
    });
  });

  it.each([
    ['(212) 555-0100', '+12125550100'],
    ['212.555.0199', '+12125550199'],
    ['+44 7911 123456', '+447911123456'],
    ['+1 (650) 253-0000', '+16502530000'],
  ])('normalizes the phone %s to %s', (phone, e164) => {
    const r = checkEligibility(campaign(open), fan, submission({ phone }), noFacts);
    expect(r.isEligible && r.entry.phone).toBe(e164);
  });

  it.each(['garbage', '123', '+44 12', '5'.repeat(40), '☎️☎️☎️'])('rejects the phone %s', (phone) => {
    expect(invalid({ phone })).toBe('phone');
  });

  it.each(['email', 'firstName', 'lastName', 'phone'] as const)(
    'requires %s when the campaign says so',
    (field) => {
      expect(invalid({ [field]: undefined })).toBe(field);
      expect(invalid({ [field]: '   ' })).toBe(field);
    },
  );

  it('leaves an optional field out when empty', () => {
    const c = campaign({ ...open, fields: { required: ['email'] } });
    const r = checkEligibility(c, fan, submission({ phone: '', firstName: undefined }), noFacts);
    expect(r.isEligible && r.entry).not.toHaveProperty('phone');
    expect(r.isEligible && r.entry).not.toHaveProperty('firstName');
  });

  it.each([
    [{ email: 'not-an-email' }, 'email'],
    [{ email: 'a@b' }, 'email'],
    [{ email: `${'a'.repeat(250)}@example.com` }, 'email'],
    [{ firstName: 'R2D2' }, 'firstName'],
    [{ lastName: 'x'.repeat(101) }, 'lastName'],
    [{ firstName: 'Ann\u0000' }, 'firstName'],
    [{ postalCode: '<script>' }, 'postalCode'],
    [{ postalCode: '12345678901' }, 'postalCode'],
    [{ markets: [] }, 'markets'],
    [{ markets: undefined }, 'markets'],
    [{ markets: ['paris'] }, 'markets[0]'],
    [{ markets: ['nyc', 'nyc'] }, 'markets[1]'],
    [{ markets: ['nyc', 'other-campaigns-market'] }, 'markets[1]'],
    [{ locale: 'fr-FR' }, 'locale'],
  ])('rejects %j naming %s', (patch, field) => {
    expect(invalid(patch)).toBe(field);
  });

  it('accepts names in any script', () => {
    const r = checkEligibility(
      campaign(open),
      fan,
      submission({ firstName: 'Zoë', lastName: '山田' }),
      noFacts,
    );
    expect(r.isEligible).toBe(true);
  });

  it("picks the fan's locale among the selected markets' locales", () => {
    const r = checkEligibility(
      campaign(open),
      fan,
      submission({ markets: ['la'], locale: 'ES-us' }),
      noFacts,
    );
    expect(r.isEligible && r.entry.locale).toBe('es-US');
  });
});
