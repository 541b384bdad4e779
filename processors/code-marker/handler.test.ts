import { describe, expect, it } from 'vitest';
import type { DemandChange } from '../../schemas/types.generated.ts';
import { newlyAssignedCodes } from './handler.ts';

const change = (
  oldImage: object | null,
  newImage: object | null,
  op: DemandChange['op'] = 'MODIFY',
): DemandChange => ({
  eventId: 'e1',
  op,
  table: 't',
  keys: { PK: '"fan:f1"', SK: '"entry#c"' },
  oldImage: oldImage && JSON.stringify(oldImage),
  newImage: newImage && JSON.stringify(newImage),
  sequenceNumber: '1',
  shardId: 's',
  approximateCreationTime: 0,
  source: 'STREAM',
});
const entry = { type: 'entry', campaignId: 'c', globalUserId: 'f1' };

describe('code-marker', () => {
  it('finds a winning verdict with a code that just landed', () => {
    expect(
      newlyAssignedCodes(
        change(entry, { ...entry, 'selection#LA': { verdict: true, code: 'K1', runId: 'r' } }),
      ),
    ).toEqual([{ campaignId: 'c', marketId: 'LA', globalUserId: 'f1', code: 'K1' }]);
  });

  it('ignores losers, unchanged verdicts, removals and other items', () => {
    const won = { ...entry, 'selection#LA': { verdict: true, code: 'K1', runId: 'r' } };
    expect(
      newlyAssignedCodes(change(entry, { ...entry, 'selection#LA': { verdict: false, runId: 'r' } })),
    ).toEqual([]);
    expect(newlyAssignedCodes(change(won, { ...won, email: 'x' }))).toEqual([]);
    expect(newlyAssignedCodes(change(won, null, 'REMOVE'))).toEqual([]);
    expect(newlyAssignedCodes(change(null, { type: 'reminder' }, 'INSERT'))).toEqual([]);
  });

  it('refuses an image that is not JSON, naming it', () => {
    expect(() => newlyAssignedCodes({ ...change(null, entry), newImage: '{' })).toThrow(
      /newImage: not a JSON object/,
    );
  });
});
