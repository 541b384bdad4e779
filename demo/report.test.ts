import { describe, expect, it } from 'vitest';
import { formatSummary, passed, Report } from './report.ts';

function sink(isTTY = false) {
  const chunks: string[] = [];
  return { out: { isTTY, write: (t: string) => void chunks.push(t) }, text: () => chunks.join('') };
}

describe('demo report', () => {
  it('times stages, prints progress at most every few seconds off a terminal, records the counts', async () => {
    let now = 0;
    const s = sink();
    const report = new Report(s.out, { now: () => now, progressEveryMs: 5_000 });
    await report.stage('Scenario 1', 'registrations', async (p) => {
      now = 6_000;
      p.update('100/300');
      now = 7_000;
      p.update('200/300'); // within 5 s of the last line: not printed
      now = 12_000;
      p.counts('300 eligible');
    });
    expect(s.text()).toContain('▸ Scenario 1 · registrations');
    expect(s.text()).toContain('    100/300  (6.0 s)');
    expect(s.text()).not.toContain('200/300');
    expect(s.text()).toContain('  ✓ registrations: 300 eligible (12.0 s)');
    expect(report.stages).toEqual([
      { scenario: 'Scenario 1', stage: 'registrations', ms: 12_000, counts: '300 eligible', ok: true },
    ]);
  });

  it('rewrites the progress line in place on a terminal', async () => {
    const s = sink(true);
    const report = new Report(s.out, { now: () => 0 });
    await report.stage('S', 'x', async (p) => {
      p.update('a');
      p.update('b');
    });
    expect(s.text()).toContain('\r\x1b[K    a  (0.0 s)\r\x1b[K    b  (0.0 s)\r\x1b[K  ✓ x');
  });

  it('records a failing stage and rethrows', async () => {
    const report = new Report(sink().out, { now: () => 0 });
    await expect(
      report.stage('S', 'boom', async () => {
        throw new Error('no broker');
      }),
    ).rejects.toThrow('no broker');
    expect(report.stages[0]).toMatchObject({ stage: 'boom', ok: false, counts: 'no broker' });
  });

  it('compares expectations and shows what was expected when they differ', () => {
    const report = new Report(sink().out);
    expect(report.equal('S', 'winners', 500, 500)).toBe(true);
    expect(report.equal('S', 'rows', 499, 500)).toBe(false);
    expect(report.checks.map((c) => c.detail)).toEqual(['500', '499 (expected 500)']);
    expect(report.failed.map((c) => c.what)).toEqual(['rows']);
  });

  it('summarizes: stages, expectations, dead letters, where to look, PASS only when everything held', () => {
    const input = {
      title: 'regflow demo demo-1',
      stages: [
        { scenario: 'Scenario 1', stage: 'registrations', ms: 118_000, counts: '50,000 eligible', ok: true },
      ],
      checks: [{ scenario: 'Scenario 1', what: 'winners', ok: true, detail: '500' }],
      deadLetters: { total: 0, byTopic: [] },
      notes: ['component restarts: none'],
      whereToLook: ['npx regflow selection stats --campaign c'],
      loadAverage: [1.5, 1.25, 1],
      totalMs: 300_000,
    };
    const text = formatSummary(input);
    expect(text).toContain('Scenario 1  registrations  118.0 s  50,000 eligible');
    expect(text).toContain('expectations: 1 met, 0 failed');
    expect(text).toContain('dead letters during the run: 0 (expected 0)');
    expect(text).toContain('  npx regflow selection stats --campaign c');
    expect(text).toContain('load average 1.50 1.25 1.00');
    expect(text).toMatch(/result: PASS\n$/);
    expect(passed(input)).toBe(true);
    const dead = { ...input, deadLetters: { total: 2, byTopic: [{ topic: 'entry-filter.dlt', count: 2 }] } };
    expect(formatSummary(dead)).toContain('dead letters during the run: 2 (expected 0): entry-filter.dlt 2');
    expect(formatSummary(dead)).toMatch(/result: FAIL\n$/);
    expect(passed({ ...input, checks: [] })).toBe(false);
    expect(passed({ ...input, stages: [{ ...input.stages[0]!, ok: false }] })).toBe(false);
  });
});
