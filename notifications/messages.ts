import { tz } from '@date-fns/tz';
import { format, type Locale } from 'date-fns';
import { enUS, es, frCA } from 'date-fns/locale';

// Localized presale reminders (spec Use Case 4, Generation Phase): the presale date and time in
// the market's IANA time zone (date-fns + @date-fns/tz), the access code and the event link.
// No body — and a reason — for an unknown locale or missing data: the generator drops those
// records and counts them by reason.

export interface ReminderInput {
  /** The fan's locale, e.g. en-US (case and `_` vs `-` do not matter). */
  locale: string;
  eventName: string;
  presaleAt: Date;
  /** The market's IANA time zone. */
  timezone: string;
  accessCode: string;
  eventLink: string;
}

export type ReminderMessage =
  | { body: string; locale: SupportedLocale }
  | { body: null; reason: 'UNKNOWN_LOCALE' | 'MISSING_DATA'; field: string };

interface Template {
  dateLocale: Locale;
  /** date-fns pattern of the presale date and time. */
  when: string;
  text: (v: { event: string; when: string; zone: string; code: string; link: string }) => string;
}

const TEMPLATES = {
  'en-US': {
    dateLocale: enUS,
    when: "EEEE, MMMM d 'at' h:mm a",
    text: (v) =>
      `Reminder: the presale for ${v.event} starts ${v.when} ${v.zone}. Your access code: ${v.code}. Tickets: ${v.link}`,
  },
  'es-US': {
    dateLocale: es,
    when: "EEEE d 'de' MMMM 'a las' h:mm a",
    text: (v) =>
      `Recordatorio: la preventa de ${v.event} comienza el ${v.when} ${v.zone}. Tu código de acceso: ${v.code}. Boletos: ${v.link}`,
  },
  'fr-CA': {
    dateLocale: frCA,
    when: "EEEE d MMMM 'à' H 'h' mm",
    text: (v) =>
      `Rappel : la prévente de ${v.event} commence le ${v.when} ${v.zone}. Votre code d’accès : ${v.code}. Billets : ${v.link}`,
  },
} as const satisfies Record<string, Template>;

export type SupportedLocale = keyof typeof TEMPLATES;
export const SUPPORTED_LOCALES = Object.keys(TEMPLATES) as SupportedLocale[];

export function normalizeLocale(locale: unknown): SupportedLocale | undefined {
  if (typeof locale !== 'string') return undefined;
  const [language = '', region = ''] = locale.trim().replace('_', '-').split('-');
  const tag = `${language.toLowerCase()}-${region.toUpperCase()}`;
  return (SUPPORTED_LOCALES as string[]).includes(tag) ? (tag as SupportedLocale) : undefined;
}

const zoneName = (locale: string, timezone: string, at: Date) =>
  new Intl.DateTimeFormat(locale, { timeZone: timezone, timeZoneName: 'short' })
    .formatToParts(at)
    .find((p) => p.type === 'timeZoneName')?.value ?? timezone;

// Every fan of a market shares its presale instant, zone and one of three locales, and rendering
// the date (Intl + date-fns in a zone) is most of a message's cost: remember the last renderings.
const WHEN_CACHE_MAX = 256;
const whenCache = new Map<string, { when: string; zone: string } | null>();

function renderWhen(
  locale: SupportedLocale,
  timezone: string,
  presaleAt: Date,
): { when: string; zone: string } | null {
  const key = `${locale}|${timezone}|${presaleAt.getTime()}`;
  const cached = whenCache.get(key);
  if (cached !== undefined) return cached;
  let rendered: { when: string; zone: string } | null;
  try {
    const template: Template = TEMPLATES[locale];
    rendered = {
      zone: zoneName(locale, timezone, presaleAt),
      when: format(presaleAt, template.when, { locale: template.dateLocale, in: tz(timezone) }),
    };
  } catch {
    rendered = null;
  }
  if (whenCache.size >= WHEN_CACHE_MAX) whenCache.clear();
  whenCache.set(key, rendered);
  return rendered;
}

const blank = (v: unknown) => typeof v !== 'string' || v.trim() === '';

export function reminderMessage(input: ReminderInput): ReminderMessage {
  const locale = normalizeLocale(input.locale);
  if (!locale) return { body: null, reason: 'UNKNOWN_LOCALE', field: 'locale' };
  const missing = (field: string) => ({ body: null, reason: 'MISSING_DATA', field }) as const;
  if (blank(input.eventName)) return missing('eventName');
  if (blank(input.accessCode)) return missing('accessCode');
  if (blank(input.eventLink) || !/^https?:\/\/\S+$/.test(input.eventLink)) return missing('eventLink');
  if (!(input.presaleAt instanceof Date) || Number.isNaN(input.presaleAt.getTime()))
    return missing('presaleAt');
  const rendered = renderWhen(locale, input.timezone, input.presaleAt);
  if (!rendered) return missing('timezone');
  const { when, zone } = rendered;
  const template: Template = TEMPLATES[locale];
  const body = template.text({
    event: input.eventName.trim(),
    when,
    zone,
    code: input.accessCode.trim(),
    link: input.eventLink.trim(),
  });
  return { body, locale };
}
