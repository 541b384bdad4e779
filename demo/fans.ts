import { randomBytes } from 'node:crypto';

// The demo's made-up people and campaigns, as pure functions of a run id and an index, so every
// stage (registration, scores, checks) can derive the same fan again without keeping 50,000 of them.

/** A run id no earlier run used: campaign ids, fan ids and names derive from it. */
export function newRunId(now = Date.now()): string {
  return `demo-${now.toString(36)}-${randomBytes(2).toString('hex')}`;
}

export const campaignIds = (runId: string) => ({
  scenario1: `${runId}-s1`,
  /** Scenario 2: the earlier campaign fans transfer from, and the invite-only VIP presale. */
  linked: `${runId}-s2-xyz`,
  vip: `${runId}-s2-vip`,
  scenario3: `${runId}-s3`,
});

export const fanId = (runId: string, i: number) => `${runId}-fan-${String(i).padStart(6, '0')}`;

const FIRST = ['Ana', 'Ben', 'Chloé', 'Dev', 'Elif', 'Femi', 'Gus', 'Hana', 'Ines', 'Jon', 'Kai', 'Lupe'];
const LAST = ['Reyes', 'Okafor', 'Nguyen', 'Smith', 'García', 'Kowalski', 'Haddad', 'Tanaka', 'Silva'];
const AREA_CODES = ['213', '310', '323', '424', '562', '626', '661', '747', '818', '909'];

/**
 * A valid US number per fan (national format, as a fan types it; the API stores E.164):
 * area code, an exchange 200-999 and a line number, all distinct for the first 8 million fans.
 */
export function phoneOf(i: number): string {
  const area = AREA_CODES[i % AREA_CODES.length]!;
  const rest = Math.floor(i / AREA_CODES.length);
  const exchange = 200 + (Math.floor(rest / 10_000) % 800);
  const line = String(rest % 10_000).padStart(4, '0');
  return `(${area}) ${exchange}-${line}`;
}

/** Locales of the Scenario 1 market's fans: mostly en-US, some es-US. */
export const localeOf = (i: number) => (i % 5 === 4 ? 'es-US' : 'en-US');

export interface Registration {
  email: string;
  firstName: string;
  lastName: string;
  phone: string;
  postalCode: string;
  locale: string;
  markets: string[];
  marketing: { emailOptIn: boolean; smsOptIn: boolean };
  doTransfer?: boolean;
}

export function registrationOf(runId: string, i: number, markets: string[]): Registration {
  return {
    email: `${fanId(runId, i)}@fans.example.com`,
    firstName: FIRST[i % FIRST.length]!,
    lastName: LAST[i % LAST.length]!,
    phone: phoneOf(i),
    postalCode: String(90_001 + (i % 900)),
    locale: localeOf(i),
    markets,
    marketing: { emailOptIn: i % 2 === 0, smsOptIn: true },
  };
}

/**
 * Which fans have a score for the draw: one in ten (say, the artist's fan-club members). The
 * others have none and rank after every scored fan (`regflow scores import` sets only these).
 */
export const isScored = (i: number) => i % 10 === 0;

/**
 * A scored fan's score (say, engagement with the artist), deterministic per fan: integers 0-999,
 * so fans tie and the seed's HMAC decides between them.
 */
export function scoreOf(runId: string, i: number): number {
  let h = 2_166_136_261;
  for (const c of `${runId}:${i}`) h = Math.imul(h ^ c.charCodeAt(0), 16_777_619) >>> 0;
  return h % 1000;
}

/** Access codes of a market pool: one per line in a `regflow codes import` file. */
export const codeOf = (runId: string, i: number) =>
  `${runId.slice(-4).toUpperCase()}${String(i).padStart(6, '0')}`;
