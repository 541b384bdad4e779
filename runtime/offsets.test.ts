import { describe, expect, it } from 'vitest';
import { isLiveGroup, type PartitionOffset, planReset, type Watermarks } from './offsets.ts';

const T = 'orders';
const marks = (low: number, high: number, partition = 0, topic = T): Watermarks => ({
  topic,
  partition,
  low,
  high,
});
const at = (offset: number | null, partition = 0, topic = T): PartitionOffset => ({
  topic,
  partition,
  offset,
});

describe('planReset', () => {
  it('resets to earliest as the low watermark of each partition', () => {
    expect(planReset({ mode: 'earliest' }, [at(40), at(7, 1)], [marks(10, 50), marks(0, 9, 1)])).toEqual([
      { topic: T, partition: 0, current: 40, target: 10 },
      { topic: T, partition: 1, current: 7, target: 0 },
    ]);
  });

  it('shifts from the committed offset', () => {
    expect(planReset({ mode: 'shift', shiftBy: -5 }, [at(30)], [marks(0, 50)])).toEqual([
      { topic: T, partition: 0, current: 30, target: 25 },
    ]);
    expect(planReset({ mode: 'shift', shiftBy: 5 }, [at(30)], [marks(0, 50)])[0]?.target).toBe(35);
  });

  it('clamps a shift back past the log start to low, and forward past the end to high', () => {
    const plan = planReset({ mode: 'shift', shiftBy: -100 }, [at(30)], [marks(12, 50)]);
    expect(plan[0]).toMatchObject({ current: 30, target: 12 });
    expect(planReset({ mode: 'shift', shiftBy: 100 }, [at(30)], [marks(12, 50)])[0]).toMatchObject({
      current: 30,
      target: 50,
    });
  });

  it('clamps a committed offset the log no longer holds before shifting from it', () => {
    // Retention removed everything below 100; shifting by +10 from 20 still lands at the log start.
    expect(planReset({ mode: 'shift', shiftBy: 10 }, [at(20)], [marks(100, 200)])[0]?.target).toBe(100);
  });

  it('shifts a partition without a committed offset from low', () => {
    expect(planReset({ mode: 'shift', shiftBy: 3 }, [at(null)], [marks(10, 50)])[0]).toEqual({
      topic: T,
      partition: 0,
      current: null,
      target: 13,
    });
    // Absent from the committed offsets altogether: same as none.
    expect(planReset({ mode: 'shift', shiftBy: -3 }, [], [marks(10, 50)])[0]).toMatchObject({
      current: null,
      target: 10,
    });
  });

  it('resets to a datetime through the offsets for that time', () => {
    expect(planReset({ mode: 'datetime', datetime: new Date() }, [at(40)], [marks(0, 50)], [at(17)])).toEqual(
      [{ topic: T, partition: 0, current: 40, target: 17 }],
    );
  });

  it('resets a partition whose records are all older than the datetime to high', () => {
    const plan = planReset(
      { mode: 'datetime', datetime: new Date() },
      [at(5), at(5, 1)],
      [marks(0, 50), marks(0, 8, 1)],
      [at(-1), at(null, 1)],
    );
    expect(plan.map((r) => r.target)).toEqual([50, 8]);
  });

  it('clamps a datetime offset outside the watermarks', () => {
    const plan = planReset({ mode: 'datetime', datetime: new Date() }, [], [marks(10, 50)], [at(3)]);
    expect(plan[0]?.target).toBe(10);
  });

  it('plans every partition of every topic, topics in the order given, ignoring offsets of other topics', () => {
    const plan = planReset(
      { mode: 'earliest' },
      [at(1, 0, 'b'), at(2, 0, 'elsewhere')],
      [marks(0, 5, 1, 'b'), marks(0, 5, 0, 'a'), marks(0, 5, 0, 'b')],
    );
    expect(plan.map((r) => `${r.topic}/${r.partition}:${r.current}`)).toEqual([
      'b/0:1',
      'b/1:null',
      'a/0:null',
    ]);
  });

  it('refuses a shift that is not an integer and a datetime that is not a date', () => {
    expect(() => planReset({ mode: 'shift', shiftBy: 1.5 }, [], [marks(0, 1)])).toThrow(/integer/);
    expect(() => planReset({ mode: 'shift' }, [], [marks(0, 1)])).toThrow(/integer/);
    expect(() => planReset({ mode: 'datetime', datetime: new Date('nope') }, [], [marks(0, 1)])).toThrow(
      /datetime/,
    );
  });
});

describe('isLiveGroup', () => {
  it('treats only memberless Empty or Dead groups as stopped', () => {
    expect(isLiveGroup('Empty', 0)).toBe(false);
    expect(isLiveGroup('Dead', 0)).toBe(false);
    expect(isLiveGroup('Stable', 1)).toBe(true);
    expect(isLiveGroup('PreparingRebalance', 0)).toBe(true);
    expect(isLiveGroup('Empty', 1)).toBe(true);
  });
});
