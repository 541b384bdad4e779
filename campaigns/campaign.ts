import { z } from 'zod';
import { ValidationError } from '../lib/errors.ts';

// The campaign domain: what a campaign is (validated with zod, errors name the field path), its
// statuses and the transitions allowed between them. Pure: no I/O.

export const CampaignStatus = {
  DRAFT: 'DRAFT',
  ACTIVE: 'ACTIVE',
  TRANSFERRING: 'TRANSFERRING',
  CLOSED: 'CLOSED',
} as const;
export type CampaignStatus = (typeof CampaignStatus)[keyof typeof CampaignStatus];
export const CAMPAIGN_STATUSES = Object.values(CampaignStatus) as [CampaignStatus, ...CampaignStatus[]];

/**
 * Allowed status changes. DRAFT is only a starting point; TRANSFERRING is an open campaign that also
 * takes transfers and may go back to ACTIVE; CLOSED is final (selection runs on closed campaigns, so
 * reopening would let entries change under a draw).
 */
export const TRANSITIONS: Readonly<Record<CampaignStatus, readonly CampaignStatus[]>> = {
  DRAFT: ['ACTIVE', 'CLOSED'],
  ACTIVE: ['TRANSFERRING', 'CLOSED'],
  TRANSFERRING: ['ACTIVE', 'CLOSED'],
  CLOSED: [],
};

/** Registrations are accepted in these statuses only (spec Use Case 1, step 4). */
export const OPEN_STATUSES: readonly CampaignStatus[] = ['ACTIVE', 'TRANSFERRING'];

export function canTransition(from: CampaignStatus, to: CampaignStatus): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}

/** Fields a fan may submit; a campaign says which are required (email always is). */
export const ENTRY_FIELDS = ['email', 'firstName', 'lastName', 'phone', 'postalCode'] as const;
export type EntryField = (typeof ENTRY_FIELDS)[number];

export const TICKETERS = ['TM', 'OTHER'] as const;

const id = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
    'letters, digits, _ and -, 1 to 64, starting with a letter or digit',
  );

const timeZone = z.string().refine(isTimeZone, 'expected an IANA time zone such as America/New_York');

const locale = z.string().refine((l) => {
  try {
    return Intl.getCanonicalLocales(l).length === 1;
  } catch {
    return false;
  }
}, 'expected a BCP 47 locale such as en-US');

// An instant with its offset (2027-03-01T10:00:00-05:00): unambiguous, and checked against the
// time zone so a file cannot say 10:00 New York with a Paris offset.
const offsetDateTime = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/,
    'expected an ISO 8601 date-time with offset, e.g. 2027-03-01T10:00:00-05:00',
  )
  .refine(isRealDateTime, 'not a real date-time');

/** Date.parse alone takes 2027-02-30 as March 2: every field must be in its range. */
function isRealDateTime(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(s);
  if (!m || Number.isNaN(Date.parse(s))) return false;
  const [year, month, day, hour, minute, second] = m.slice(1).map((v) => Number(v ?? 0)) as number[];
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  return (
    month! >= 1 &&
    month! <= 12 &&
    day! >= 1 &&
    day! <= daysInMonth &&
    hour! < 24 &&
    minute! < 60 &&
    second! < 60
  );
}

export const MarketSchema = z
  .object({
    id,
    name: z.string().min(1).max(200),
    ticketer: z.enum(TICKETERS),
    presale: z.object({ startsAt: offsetDateTime, timeZone }).strict(),
    event: z
      .object({
        id: z.string().min(1).max(100),
        url: z.string().url('expected a URL'),
      })
      .strict(),
    locales: z.array(locale).min(1).max(20),
    options: z
      .object({ automatedReminders: z.boolean().default(false) })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((market, ctx) => {
    const expected = offsetMinutesAt(new Date(market.presale.startsAt), market.presale.timeZone);
    const given = offsetOf(market.presale.startsAt);
    if (expected !== undefined && given !== expected) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['presale', 'startsAt'],
        message: `offset ${formatOffset(given)} is not ${market.presale.timeZone}'s offset at that time (${formatOffset(expected)})`,
      });
    }
  });
export type Market = z.infer<typeof MarketSchema>;

export const GateSchema = z
  .object({
    /** Only fans whose email is on the campaign's invite list may register. */
    inviteOnly: z.boolean().default(false),
    /** Only fans whose identity is verified may register (the token's `idv` claim). */
    idvRequired: z.boolean().default(false),
    /** Fans with an entry in this campaign may register with `doTransfer` even when not invited. */
    linkedCampaignId: id.optional(),
  })
  .strict()
  .default({});
export type Gate = z.infer<typeof GateSchema>;

/** Most reminder email dates one campaign file may list. */
export const MAX_REMINDER_EMAIL_DATES = 50;

/**
 * The campaign's own dates a file may set. `sendReminderEmails`: when the email reminder exports go
 * out (instants with their offset). They are stored beside the campaign (stores/notification-state.ts,
 * where the reminder-emails job reads them), not in the campaign document; a date already exported
 * is never re-armed by applying the file again (notifications/reminder-emails.ts).
 */
export const CampaignDatesSchema = z
  .object({
    sendReminderEmails: z
      .array(offsetDateTime)
      .max(MAX_REMINDER_EMAIL_DATES)
      .superRefine((dates, ctx) => {
        const seen = new Map<number, number>();
        dates.forEach((d, i) => {
          const t = Date.parse(d);
          if (Number.isNaN(t)) return; // reported by the element's own check
          const first = seen.get(t);
          if (first !== undefined)
            ctx.addIssue({
              code: z.ZodIssueCode.custom,
              path: [i],
              message: `the same instant as date.sendReminderEmails.${first}`,
            });
          else seen.set(t, i);
        });
      })
      .optional(),
  })
  .strict();

/** What a campaign file or the admin API says (the definition); the store adds status history. */
export const CampaignDefinitionSchema = z
  .object({
    id,
    name: z.string().min(1).max(200),
    status: z.enum(CAMPAIGN_STATUSES).default('DRAFT'),
    gate: GateSchema,
    fields: z
      .object({
        required: z
          .array(z.enum(ENTRY_FIELDS))
          .max(ENTRY_FIELDS.length)
          .default(['email', 'firstName', 'lastName']),
      })
      .strict()
      .default({}),
    markets: z.array(MarketSchema).min(1).max(200),
    /** Invite list inline (emails); large lists are imported with `regflow campaign invites import`. */
    invites: z.array(z.string().email().max(254)).max(10_000).optional(),
    /** date.sendReminderEmails (see CampaignDatesSchema); absent: the stored dates are left as they are. */
    date: CampaignDatesSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.markets.forEach((m, i) => {
      if (seen.has(m.id))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['markets', i, 'id'],
          message: 'duplicate market id',
        });
      seen.add(m.id);
    });
    if (c.gate.linkedCampaignId === c.id)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['gate', 'linkedCampaignId'],
        message: 'a campaign cannot be linked to itself',
      });
  });
export type CampaignDefinition = z.infer<typeof CampaignDefinitionSchema>;

/**
 * A stored campaign: its definition without the invite list and the reminder email dates (stored
 * beside it), plus bookkeeping.
 */
export interface Campaign extends Omit<CampaignDefinition, 'invites' | 'date'> {
  /** Bumped on every change (also by invite imports): cache entries and records carry it. */
  version: number;
  /** Number of emails on the invite list. */
  inviteCount: number;
  closedAt?: string;
  /**
   * SHA-256 of the campaign's secret selection seed, fixed when the campaign closes and published
   * with the close (data.records CAMPAIGN), before any draw; the seed itself is revealed with the
   * results (README, Selection).
   */
  seedHash?: string;
  date: { created: string; updated: string };
}

/** Parses a campaign definition; throws a ValidationError naming the first bad field path. */
export function parseCampaignDefinition(input: unknown): CampaignDefinition {
  const parsed = CampaignDefinitionSchema.safeParse(input);
  if (!parsed.success) throw validationErrorFrom(parsed.error);
  const def = parsed.data;
  if (!def.fields.required.includes('email')) def.fields.required = ['email', ...def.fields.required];
  return def;
}

export function validationErrorFrom(error: z.ZodError): ValidationError {
  const issue = error.issues[0];
  const path = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
  return new ValidationError(path, `${issue?.message ?? 'invalid'}${more}`);
}

/**
 * The status change `from → to`, or a ValidationError naming `status` when it is not allowed.
 * Closing records the close time.
 */
export function applyStatus(
  campaign: Pick<Campaign, 'status' | 'closedAt'>,
  to: CampaignStatus,
  now: Date,
): { status: CampaignStatus; closedAt?: string } {
  if (!canTransition(campaign.status, to)) {
    const allowed = TRANSITIONS[campaign.status];
    throw new ValidationError(
      'status',
      `cannot go from ${campaign.status} to ${to} (allowed: ${allowed.length ? allowed.join(', ') : 'none, CLOSED is final'})`,
    );
  }
  if (to === 'CLOSED') return { status: to, closedAt: campaign.closedAt ?? now.toISOString() };
  return { status: to };
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz.includes('/') || tz === 'UTC';
  } catch {
    return false;
  }
}

/** The UTC offset in minutes of `timeZone` at `instant` (undefined for an unknown zone). */
export function offsetMinutesAt(instant: Date, timeZone: string): number | undefined {
  try {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    }).formatToParts(instant);
    const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
    const asUtc = Date.UTC(
      get('year'),
      get('month') - 1,
      get('day'),
      get('hour'),
      get('minute'),
      get('second'),
    );
    return Math.round((asUtc - Math.floor(instant.getTime() / 1000) * 1000) / 60_000);
  } catch {
    return undefined;
  }
}

function offsetOf(iso: string): number {
  const m = /(Z|([+-])(\d{2}):(\d{2}))$/.exec(iso);
  if (!m || m[1] === 'Z') return 0;
  const sign = m[2] === '-' ? -1 : 1;
  return sign * (Number(m[3]) * 60 + Number(m[4]));
}

function formatOffset(minutes: number | undefined): string {
  if (minutes === undefined) return '?';
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
