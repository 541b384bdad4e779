import { z } from 'zod';
import { ValidationError } from '../lib/errors.ts';
import { normalizeEmail } from './campaign.ts';

// Invite list files: one email per line, or a CSV whose first column is the email. Blank lines,
// `#` comments and a header line `email` are skipped. A bad line is named by its number.

const email = z.string().email().max(254);

/** Validates and normalizes a list of emails; a bad one is named `emails[i]`. */
export function normalizeInvites(emails: readonly unknown[]): string[] {
  return [
    ...new Set(
      emails.map((e, i) => {
        if (typeof e !== 'string' || !email.safeParse(e.trim()).success)
          throw new ValidationError(`emails[${i}]`, 'not an email address');
        return normalizeEmail(e);
      }),
    ),
  ];
}

export function parseInviteFile(text: string): string[] {
  const emails: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const first =
      raw
        .split(',')[0]
        ?.trim()
        .replace(/^"(.*)"$/, '$1') ?? '';
    if (first === '' || first.startsWith('#') || (i === 0 && first.toLowerCase() === 'email')) return;
    if (!email.safeParse(first).success)
      throw new ValidationError(
        `line ${i + 1}`,
        `not an email address: ${JSON.stringify(first.slice(0, 80))}`,
      );
    emails.push(normalizeEmail(first));
  });
  return [...new Set(emails)];
}
