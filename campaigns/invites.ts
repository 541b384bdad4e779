import { z } from 'zod';
import { ValidationError } from '../lib/errors.ts';
import { normalizeEmail } from './campaign.ts';

// Invite list files: one email per line, or a CSV whose first column is the email. Blank lines,
// `#` comments and a header line `email` are skipped. A bad line is named by its number.

const email = z.string().email().max(254);

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
