// Who gets a presale reminder (spec Use Case 4: "verdict = true", "code.marketId = marketId",
// "phoneNumber starts with +1"): a selected winner holding a code for this market, with a
// confirmed +1 (North American) phone in E.164. plan-sends counts these fans to size the send
// window; the notification generator writes one reminder per fan. One predicate for both, so the
// planned volume is the volume sent.

export interface ScoredFan {
  verdict?: boolean | null;
  phoneNumber?: string | null;
  code?: { marketId?: string | null; value?: string | null } | null;
}

const PLUS_ONE_E164 = /^\+1\d{10}$/;

export const hasPlusOnePhone = (phone: unknown): boolean =>
  typeof phone === 'string' && PLUS_ONE_E164.test(phone);

export function isReminderEligible(fan: ScoredFan, marketId: string): boolean {
  return (
    fan.verdict === true &&
    fan.code?.marketId === marketId &&
    typeof fan.code.value === 'string' &&
    fan.code.value.trim() !== '' &&
    hasPlusOnePhone(fan.phoneNumber)
  );
}
