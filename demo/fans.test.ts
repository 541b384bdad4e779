import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { describe, expect, it } from 'vitest';
import { codeOf, fanId, newRunId, phoneOf, registrationOf, scoreOf } from './fans.ts';

describe('demo fans', () => {
  it('gives every fan a valid, distinct US phone number', () => {
    const seen = new Set<string>();
    for (const i of [0, 1, 9, 10, 12_345, 49_999, 99_999, 7_999_999]) {
      const phone = parsePhoneNumberFromString(phoneOf(i), 'US');
      expect(phone?.isValid(), phoneOf(i)).toBe(true);
      expect(phone?.number.startsWith('+1')).toBe(true);
      seen.add(phone!.number);
    }
    expect(seen.size).toBe(8);
    const all = new Set(Array.from({ length: 50_000 }, (_, i) => phoneOf(i)));
    expect(all.size).toBe(50_000);
  });

  it('derives ids, registrations, scores and codes from the run and the index', () => {
    const run = newRunId(0);
    expect(run).toMatch(/^demo-0-[0-9a-f]{4}$/);
    expect(fanId(run, 42)).toBe(`${run}-fan-000042`);
    expect(registrationOf(run, 42, ['lax'])).toMatchObject({
      markets: ['lax'],
      email: `${run}-fan-000042@fans.example.com`,
    });
    expect(scoreOf(run, 42)).toBe(scoreOf(run, 42));
    expect(scoreOf(run, 42)).toBeGreaterThanOrEqual(0);
    expect(scoreOf(run, 42)).toBeLessThan(1000);
    expect(codeOf(run, 7)).toMatch(/^[A-Z0-9]{4}000007$/);
  });
});
