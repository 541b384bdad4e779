import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../lib/errors.ts';
import { decodeState, encodeState } from './tick-log.ts';

describe('the scheduler state stored in the offset metadata', () => {
  it('round-trips the last fired tick of each schedule', () => {
    const state = {
      'plan-sends': Date.parse('2026-11-01T07:00:00Z'),
      'markets-to-notify': Date.parse('2026-11-01T09:05:00Z'),
    };
    const text = encodeState(state);
    expect(text).toBe(
      '{"v":1,"last":{"plan-sends":"2026-11-01T07:00:00.000Z","markets-to-notify":"2026-11-01T09:05:00.000Z"}}',
    );
    expect(text.length).toBeLessThan(4_096); // offset.metadata.max.bytes
    expect(decodeState(text)).toEqual(state);
  });

  it('reads no metadata as no history', () => {
    expect(decodeState(null)).toEqual({});
    expect(decodeState('')).toEqual({});
  });

  it('refuses metadata it did not write, saying why', () => {
    expect(() => decodeState('not json')).toThrow(PermanentError);
    expect(() => decodeState('{"v":2,"last":{}}')).toThrow(/unknown format/);
    expect(() => decodeState('{"v":1,"last":{"plan-sends":"soon"}}')).toThrow(
      /last.plan-sends is not an instant/,
    );
  });
});
