import { describe, expect, it } from 'vitest';
import { hasPlusOnePhone, isReminderEligible, type ScoredFan } from './eligibility.ts';

const winner: ScoredFan = {
  verdict: true,
  phoneNumber: '+13105550100',
  code: { marketId: 'la', value: 'ABC123' },
};

describe('isReminderEligible', () => {
  it('accepts a winner with a code for this market and a +1 phone', () => {
    expect(isReminderEligible(winner, 'la')).toBe(true);
  });

  it('refuses a loser, a winner without a code or with another market’s code', () => {
    expect(isReminderEligible({ ...winner, verdict: false }, 'la')).toBe(false);
    expect(isReminderEligible({ ...winner, verdict: null }, 'la')).toBe(false);
    expect(isReminderEligible({ ...winner, code: null }, 'la')).toBe(false);
    expect(isReminderEligible({ ...winner, code: { marketId: 'la', value: ' ' } }, 'la')).toBe(false);
    expect(isReminderEligible(winner, 'ny')).toBe(false);
  });

  it('refuses international and malformed phones', () => {
    for (const phoneNumber of [
      '+447700900123',
      '+52 55 1234 5678',
      '3105550100',
      '+1310555010',
      '+131055501000',
      null,
    ]) {
      expect(isReminderEligible({ ...winner, phoneNumber }, 'la'), String(phoneNumber)).toBe(false);
    }
    expect(hasPlusOnePhone('+14165550100')).toBe(true); // Toronto: +1 too
  });
});
