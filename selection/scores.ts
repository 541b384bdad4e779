import { ValidationError } from '../lib/errors.ts';

// Score files for `regflow scores import`: CSV `globalUserId,score` (a header line of exactly
// that is allowed), one fan per line. Every bad line is reported by number; a file with any error
// is refused whole, before anything is written.

export interface ScoreLine {
  globalUserId: string;
  score: number;
}

/** One line's fan and score, or why it is bad. */
function parseLine(line: string, n: number, seen: Map<string, number>): ScoreLine | string {
  if (line === '') return `line ${n}: empty line`;
  const cols = line.split(',').map((c) => c.trim());
  if (cols.length !== 2) return `line ${n}: expected 2 columns (globalUserId,score), got ${cols.length}`;
  const [globalUserId, s] = cols as [string, string];
  if (!/^[A-Za-z0-9_.:@-]{1,128}$/.test(globalUserId))
    return `line ${n}: globalUserId ${JSON.stringify(globalUserId)} is not an id`;
  const score = Number(s);
  if (s === '' || !Number.isFinite(score))
    return `line ${n}: score ${JSON.stringify(s)} is not a finite number`;
  const first = seen.get(globalUserId);
  if (first !== undefined) return `line ${n}: globalUserId ${globalUserId} again (first on line ${first})`;
  seen.set(globalUserId, n);
  return { globalUserId, score };
}

export function parseScoreFile(text: string): ScoreLine[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const errors: string[] = [];
  const seen = new Map<string, number>();
  const out: ScoreLine[] = [];
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (i === 0 && line.replace(/\s/g, '').toLowerCase() === 'globaluserid,score') continue;
    const parsed = parseLine(line, i + 1, seen);
    if (typeof parsed === 'string') errors.push(parsed);
    else out.push(parsed);
  }
  if (errors.length > 0)
    throw new ValidationError(
      'file',
      `${errors.length} bad line(s), nothing imported: ${errors.slice(0, 20).join('; ')}${errors.length > 20 ? '; …' : ''}`,
    );
  return out;
}
