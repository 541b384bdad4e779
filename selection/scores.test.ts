import { describe, expect, it } from 'vitest';
import { parseScoreFile } from './scores.ts';

describe('score files', () => {
  it('reads globalUserId,score lines with an optional header', () => {
    expect(parseScoreFile('globalUserId,score\nfan-1,10\nfan-2, 2.5\n')).toEqual([
      { globalUserId: 'fan-1', score: 10 },
      { globalUserId: 'fan-2', score: 2.5 },
    ]);
  });

  it('reports every bad line by number and refuses the file', () => {
    expect(() => parseScoreFile('fan-1,1\n\nfan-2,x\nfan-1,3\nfan-3,1,2\n')).toThrow(
      /file: 4 bad line\(s\), nothing imported: line 2: empty line; line 3: score "x" is not a finite number; line 4: globalUserId fan-1 again \(first on line 1\); line 5: expected 2 columns/,
    );
  });
});
