import { describe, expect, it } from 'vitest';
import { normalizeLocale, type ReminderInput, reminderMessage } from './messages.ts';

const base: ReminderInput = {
  locale: 'en-US',
  eventName: 'Artist Tour',
  presaleAt: new Date('2026-03-09T17:30:00Z'), // Monday 10:30 PDT, Scenario 1's presale
  timezone: 'America/Los_Angeles',
  accessCode: 'ABC123',
  eventLink: 'https://tickets.example.com/e/1',
};

describe('reminderMessage', () => {
  it('writes en-US with the presale in the market time zone, the code and the link', () => {
    expect(reminderMessage(base)).toEqual({
      locale: 'en-US',
      body: 'Reminder: the presale for Artist Tour starts Monday, March 9 at 10:30 AM PDT. Your access code: ABC123. Tickets: https://tickets.example.com/e/1',
    });
  });

  it('writes es-US', () => {
    expect(reminderMessage({ ...base, locale: 'es-US' }).body).toBe(
      'Recordatorio: la preventa de Artist Tour comienza el lunes 9 de marzo a las 10:30 AM PDT. Tu código de acceso: ABC123. Boletos: https://tickets.example.com/e/1',
    );
  });

  it('writes fr-CA, in a Canadian market’s own zone and on a 24-hour clock', () => {
    expect(reminderMessage({ ...base, locale: 'fr-CA', timezone: 'America/Toronto' }).body).toBe(
      'Rappel : la prévente de Artist Tour commence le lundi 9 mars à 13 h 30 HAE. Votre code d’accès : ABC123. Billets : https://tickets.example.com/e/1',
    );
  });

  it('tells the two 1:30 AM of the fall-back night apart by their zone', () => {
    const first = reminderMessage({ ...base, presaleAt: new Date('2026-11-01T08:30:00Z') }).body;
    const second = reminderMessage({ ...base, presaleAt: new Date('2026-11-01T09:30:00Z') }).body;
    expect(first).toContain('starts Sunday, November 1 at 1:30 AM PDT.');
    expect(second).toContain('starts Sunday, November 1 at 1:30 AM PST.');
  });

  it('renders the spring-forward morning in daylight time (2:30 does not exist, 3:30 PDT does)', () => {
    const body = reminderMessage({
      ...base,
      locale: 'es-US',
      presaleAt: new Date('2026-03-08T10:30:00Z'),
    }).body;
    expect(body).toContain('el domingo 8 de marzo a las 3:30 AM PDT.');
  });

  it('accepts the locale in any case and with an underscore', () => {
    expect(normalizeLocale('fr_ca')).toBe('fr-CA');
    expect(normalizeLocale(' EN-us ')).toBe('en-US');
    expect(reminderMessage({ ...base, locale: 'es_US' }).body).toContain('Recordatorio');
  });

  it('gives no body for an unknown locale', () => {
    for (const locale of ['de-DE', 'en', 'es-MX', '', undefined as unknown as string]) {
      expect(reminderMessage({ ...base, locale })).toEqual({
        body: null,
        reason: 'UNKNOWN_LOCALE',
        field: 'locale',
      });
    }
  });

  it('gives no body, naming the field, when data is missing or unusable', () => {
    const cases: [Partial<ReminderInput>, string][] = [
      [{ accessCode: '' }, 'accessCode'],
      [{ accessCode: undefined as unknown as string }, 'accessCode'],
      [{ eventLink: '' }, 'eventLink'],
      [{ eventLink: 'javascript:alert(1)' }, 'eventLink'],
      [{ eventName: '  ' }, 'eventName'],
      [{ presaleAt: new Date('nope') }, 'presaleAt'],
      [{ timezone: 'Mars/Olympus' }, 'timezone'],
    ];
    for (const [change, field] of cases) {
      expect(reminderMessage({ ...base, ...change })).toEqual({ body: null, reason: 'MISSING_DATA', field });
    }
  });
});
