import { describeError } from '../lib/errors.ts';
import { formatTable } from '../lib/format.ts';

// What the demo shows a person: a line per stage as it starts and ends, a live progress line while
// it runs (rewritten in place on a terminal, every few seconds otherwise), the expectations, and
// at the end a summary. The summary is a pure function of what was recorded (formatSummary).

export interface StageResult {
  scenario: string;
  stage: string;
  ms: number;
  counts: string;
  ok: boolean;
}

export interface Check {
  scenario: string;
  what: string;
  ok: boolean;
  detail: string;
}

export interface StageProgress {
  /** The live progress line. */
  update(text: string): void;
  /** What the summary shows for the stage (counts, rates). */
  counts(text: string): void;
}

export interface Output {
  write(text: string): void;
  readonly isTTY?: boolean;
}

export const fmtInt = (n: number) => n.toLocaleString('en-US');
export const fmtSeconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export class Report {
  readonly stages: StageResult[] = [];
  readonly checks: Check[] = [];
  private live = false;
  private muted = false;

  constructor(
    private readonly out: Output,
    private readonly opts: { progressEveryMs?: number; now?: () => number } = {},
  ) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** From now on prints nothing (a run given up: what still runs in the background stays quiet). */
  mute(): void {
    if (this.live) this.out.write('\r\x1b[K\n');
    this.live = false;
    this.muted = true;
  }

  /** A line of its own (ends a live progress line first). */
  line(text: string): void {
    if (this.muted) return;
    if (this.live) this.out.write('\r\x1b[K');
    this.live = false;
    this.out.write(`${text}\n`);
  }

  /** Runs one timed stage; a throw is recorded as the stage failing and rethrown. */
  async stage<T>(scenario: string, stage: string, fn: (p: StageProgress) => Promise<T>): Promise<T> {
    const started = this.now();
    let counts = '';
    let lastPrinted = 0;
    const every = this.opts.progressEveryMs ?? 5_000;
    this.line(`▸ ${scenario} · ${stage}`);
    const progress: StageProgress = {
      update: (text) => {
        if (this.muted) return;
        const elapsed = fmtSeconds(this.now() - started);
        if (this.tty) {
          this.out.write(`\r\x1b[K    ${text}  (${elapsed})`);
          this.live = true;
        } else if (this.now() - lastPrinted >= every) {
          lastPrinted = this.now();
          this.out.write(`    ${text}  (${elapsed})\n`);
        }
      },
      counts: (text) => {
        counts = text;
      },
    };
    try {
      const result = await fn(progress);
      const ms = this.now() - started;
      this.stages.push({ scenario, stage, ms, counts, ok: true });
      this.line(`  ✓ ${stage}: ${counts || 'done'} (${fmtSeconds(ms)})`);
      return result;
    } catch (err) {
      const ms = this.now() - started;
      this.stages.push({ scenario, stage, ms, counts: counts || describeError(err), ok: false });
      this.line(`  ✗ ${stage} failed after ${fmtSeconds(ms)}: ${describeError(err)}`);
      throw err;
    }
  }

  /** Records an expectation; prints it when it fails. */
  expect(scenario: string, what: string, ok: boolean, detail: string): boolean {
    this.checks.push({ scenario, what, ok, detail });
    if (!ok) this.line(`  ✗ expected ${what}: ${detail}`);
    return ok;
  }

  /** Records `actual === expected`. */
  equal<T>(scenario: string, what: string, actual: T, expected: T): boolean {
    const show = (v: T) => (typeof v === 'number' ? fmtInt(v) : JSON.stringify(v));
    return this.expect(
      scenario,
      what,
      JSON.stringify(actual) === JSON.stringify(expected),
      actual === expected || JSON.stringify(actual) === JSON.stringify(expected)
        ? show(actual)
        : `${show(actual)} (expected ${show(expected)})`,
    );
  }

  get failed(): Check[] {
    return this.checks.filter((c) => !c.ok);
  }
}

export interface SummaryInput {
  title: string;
  stages: readonly StageResult[];
  checks: readonly Check[];
  deadLetters: { total: number; byTopic: ReadonlyArray<{ topic: string; count: number }> };
  notes: readonly string[];
  whereToLook: readonly string[];
  loadAverage: readonly number[];
  totalMs: number;
}

/** The summary printed at the end: stages with times and counts, expectations, dead letters, where to look. */
export function formatSummary(s: SummaryInput): string {
  const failed = s.checks.filter((c) => !c.ok);
  const pass = passed(s);
  const lines: string[] = [];
  lines.push('', `═══ ${s.title} ═══`, '');
  lines.push(
    formatTable(
      ['scenario', 'stage', 'time', 'counts'],
      s.stages.map((st) => [st.scenario, `${st.ok ? '' : '✗ '}${st.stage}`, fmtSeconds(st.ms), st.counts]),
    ),
  );
  lines.push('', `expectations: ${s.checks.length - failed.length} met, ${failed.length} failed`);
  for (const c of s.checks) lines.push(`  ${c.ok ? '✓' : '✗'} ${c.scenario}: ${c.what} — ${c.detail}`);
  lines.push(
    '',
    `dead letters during the run: ${fmtInt(s.deadLetters.total)} (expected 0)${
      s.deadLetters.byTopic.length > 0
        ? `: ${s.deadLetters.byTopic.map((d) => `${d.topic} ${fmtInt(d.count)}`).join(', ')}`
        : ''
    }`,
  );
  for (const n of s.notes) lines.push(n);
  lines.push('', 'where to look:');
  for (const w of s.whereToLook) lines.push(`  ${w}`);
  lines.push(
    '',
    `total ${fmtSeconds(s.totalMs)}; load average ${s.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
    `result: ${pass ? 'PASS' : 'FAIL'}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Whether the recorded run passed (what the exit code says). */
export function passed(s: Pick<SummaryInput, 'stages' | 'checks' | 'deadLetters'>): boolean {
  return (
    s.checks.length > 0 &&
    s.checks.every((c) => c.ok) &&
    s.stages.every((st) => st.ok) &&
    s.deadLetters.total === 0
  );
}
