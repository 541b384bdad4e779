import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { type Campaign, type EntryField, normalizeEmail, OPEN_STATUSES } from '../campaigns/campaign.ts';

// checkEligibility (spec Use Case 1, steps 4-7): pure. The caller looks up the two facts that need
// I/O (is the fan's email on the invite list; does the fan have an entry in the linked campaign)
// and passes them in; `needsLinkedEntryLookup` says when the second one is needed at all.
//
// Rules, in the order they answer:
// 1. status ACTIVE or TRANSFERRING, else CAMPAIGN_CLOSED;
// 2. gate membership: an invite-only campaign admits invited emails; a campaign with a linked
//    campaign admits fans with an entry there who ask for the transfer (`doTransfer: true`), and the
//    entry is written with `linkedFrom`. A campaign with either gate refuses everyone else with
//    NOT_INVITED, detail.gateType 'invite' (invite-only) or 'linked' (linked campaign only);
// 3. IDV: a campaign requiring IDV refuses fans whose token does not say `idv: true` (IDV_NOT_VERIFIED);
// 4. fields: required fields present; formats (email, names, E.164 phone with US as the default
//    country, postal code, locale); markets non-empty, unique and all the campaign's: else
//    INVALID_ENTRY with detail.field.

export const IneligibleReason = {
  CAMPAIGN_CLOSED: 'CAMPAIGN_CLOSED',
  NOT_INVITED: 'NOT_INVITED',
  IDV_NOT_VERIFIED: 'IDV_NOT_VERIFIED',
  INVALID_ENTRY: 'INVALID_ENTRY',
} as const;
export type IneligibleReason = (typeof IneligibleReason)[keyof typeof IneligibleReason];

/** What a fan submits (types already checked at the HTTP boundary). */
export interface EntrySubmission {
  email?: string;
  firstName?: string;
  lastName?: string;
  phone?: string;
  postalCode?: string;
  locale?: string;
  markets?: string[];
  marketing?: { emailOptIn?: boolean; smsOptIn?: boolean };
  doTransfer?: boolean;
}

export interface Fan {
  globalUserId: string;
  /** Identity verified (the token's `idv: true` claim, set by the identity provider). */
  idvVerified: boolean;
}

export interface EligibilityFacts {
  /** The submitted email is on the campaign's invite list. */
  invited: boolean;
  /** The fan has an entry in the campaign's linked campaign (undefined: not looked up). */
  hasLinkedEntry?: boolean;
}

export interface NormalizedEntry {
  email: string;
  firstName?: string;
  lastName?: string;
  /** E.164 */
  phone?: string;
  postalCode?: string;
  locale: string;
  markets: string[];
  marketing: { emailOptIn: boolean; smsOptIn: boolean };
  doTransfer?: boolean;
  linkedFrom?: string;
}

export type GateType = 'invite' | 'linked';

export type Eligibility =
  | { isEligible: true; entry: NormalizedEntry; linkedCampaignId?: string }
  | {
      isEligible: false;
      reason: IneligibleReason;
      detail?: { gateType?: GateType; field?: string; message?: string };
    };

export const DEFAULT_PHONE_COUNTRY = 'US';

const EMAIL =
  /^[^\s@"<>()[\]\\,;:]{1,64}@(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$/;
const POSTAL_CODE = /^[A-Za-z0-9](?:[A-Za-z0-9 -]{0,8}[A-Za-z0-9])?$/;
// Letters of any script, marks, spaces and a few joiners; no digits, no control or format characters.
const NAME = /^[\p{L}\p{M}][\p{L}\p{M} '’.-]{0,99}$/u;

const isOpen = (c: Campaign) => OPEN_STATUSES.includes(c.status);

/** Whether the linked-campaign entry lookup can change the answer (saves the read otherwise). */
export function needsLinkedEntryLookup(
  campaign: Campaign,
  submission: EntrySubmission,
  invited: boolean,
): boolean {
  return (
    isOpen(campaign) &&
    campaign.gate.linkedCampaignId !== undefined &&
    submission.doTransfer === true &&
    !(campaign.gate.inviteOnly && invited)
  );
}

export function inviteKey(submission: EntrySubmission): string {
  return typeof submission.email === 'string' ? normalizeEmail(submission.email) : '';
}

export function checkEligibility(
  campaign: Campaign,
  fan: Fan,
  submission: EntrySubmission,
  facts: EligibilityFacts,
): Eligibility {
  if (!isOpen(campaign)) return { isEligible: false, reason: 'CAMPAIGN_CLOSED' };

  const { inviteOnly, linkedCampaignId } = campaign.gate;
  let linkedFrom: string | undefined;
  if (inviteOnly || linkedCampaignId) {
    const invited = inviteOnly && facts.invited;
    const transfers =
      linkedCampaignId !== undefined && submission.doTransfer === true && facts.hasLinkedEntry === true;
    if (!invited && !transfers)
      return {
        isEligible: false,
        reason: 'NOT_INVITED',
        detail: { gateType: inviteOnly ? 'invite' : 'linked' },
      };
    if (!invited) linkedFrom = linkedCampaignId;
  }

  if (campaign.gate.idvRequired && !fan.idvVerified) return { isEligible: false, reason: 'IDV_NOT_VERIFIED' };

  const fields = normalizeFields(campaign, submission);
  if ('field' in fields)
    return {
      isEligible: false,
      reason: 'INVALID_ENTRY',
      detail: { field: fields.field, message: fields.message },
    };
  const entry: NormalizedEntry = { ...fields.entry };
  if (submission.doTransfer !== undefined) entry.doTransfer = submission.doTransfer;
  if (linkedFrom) {
    entry.linkedFrom = linkedFrom;
    return { isEligible: true, entry, linkedCampaignId: linkedFrom };
  }
  return { isEligible: true, entry };
}

type FieldsResult = { entry: NormalizedEntry } | { field: string; message: string };

function normalizeFields(campaign: Campaign, s: EntrySubmission): FieldsResult {
  const required = new Set<EntryField>(campaign.fields.required);
  const present = (v: string | undefined) =>
    typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  const values: Partial<Record<EntryField, string>> = {};
  for (const field of ['email', 'firstName', 'lastName', 'phone', 'postalCode'] as const) {
    const v = present(s[field]);
    if (v === undefined) {
      if (required.has(field) || field === 'email') return { field, message: 'required' };
      continue;
    }
    values[field] = v;
  }

  const email = normalizeEmail(values.email ?? '');
  if (email.length > 254 || !EMAIL.test(email)) return { field: 'email', message: 'not an email address' };
  for (const field of ['firstName', 'lastName'] as const) {
    const v = values[field];
    if (v !== undefined && !NAME.test(v.normalize('NFC')))
      return { field, message: 'letters, spaces, apostrophes, dots and hyphens only, at most 100' };
  }
  let phone: string | undefined;
  if (values.phone !== undefined) {
    const parsed =
      values.phone.length <= 32 ? parsePhoneNumberFromString(values.phone, DEFAULT_PHONE_COUNTRY) : undefined;
    if (!parsed?.isValid())
      return { field: 'phone', message: 'not a valid phone number (national US format or +country code)' };
    phone = parsed.number;
  }
  if (values.postalCode !== undefined && !POSTAL_CODE.test(values.postalCode))
    return { field: 'postalCode', message: 'letters, digits, spaces and hyphens, 1 to 10' };

  const markets = s.markets ?? [];
  if (markets.length === 0) return { field: 'markets', message: 'select at least one market' };
  const known = new Map(campaign.markets.map((m) => [m.id, m]));
  const seen = new Set<string>();
  for (let i = 0; i < markets.length; i++) {
    const id = markets[i] as string;
    if (!known.has(id)) return { field: `markets[${i}]`, message: 'not a market of this campaign' };
    if (seen.has(id)) return { field: `markets[${i}]`, message: 'selected twice' };
    seen.add(id);
  }
  const locales = markets.flatMap((id) => known.get(id)?.locales ?? []);
  let locale = locales[0] as string;
  if (s.locale !== undefined) {
    const wanted = locales.find((l) => l.toLowerCase() === s.locale?.toLowerCase());
    if (!wanted)
      return {
        field: 'locale',
        message: `not offered by the selected markets (${[...new Set(locales)].join(', ')})`,
      };
    locale = wanted;
  }

  const entry: NormalizedEntry = {
    email,
    locale,
    markets: [...markets],
    marketing: { emailOptIn: s.marketing?.emailOptIn === true, smsOptIn: s.marketing?.smsOptIn === true },
  };
  if (values.firstName !== undefined) entry.firstName = values.firstName.normalize('NFC');
  if (values.lastName !== undefined) entry.lastName = values.lastName.normalize('NFC');
  if (phone !== undefined) entry.phone = phone;
  if (values.postalCode !== undefined) entry.postalCode = values.postalCode.toUpperCase();
  return { entry };
}
