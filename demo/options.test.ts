import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, parseDemoArgs } from './options.ts';

describe('demo options', () => {
  it('defaults to the spec: 50,000 fans, 500 winners', () => {
    expect(parseDemoArgs([])).toEqual(DEFAULT_OPTIONS);
    expect(DEFAULT_OPTIONS).toMatchObject({ fans: 50_000, winners: 500 });
  });

  it('reads --fans, --winners, --concurrency, --speed (space or =)', () => {
    expect(parseDemoArgs(['--fans', '300', '--winners=10', '--concurrency', '8', '--speed=900'])).toEqual({
      fans: 300,
      winners: 10,
      concurrency: 8,
      speed: 900,
    });
  });

  it('names the option and the reason on bad input', () => {
    expect(() => parseDemoArgs(['--fans', 'many'])).toThrow(
      /--fans: expected a whole number from 1 to 1000000 \(got "many"\)/,
    );
    expect(() => parseDemoArgs(['--winners'])).toThrow(/--winners: expected a whole number/);
    expect(() => parseDemoArgs(['--fans', '10', '--winners', '10'])).toThrow(
      /--winners: expected fewer winners than fans/,
    );
    expect(() => parseDemoArgs(['--fast'])).toThrow(/unknown option "--fast"; usage: npm run demo/);
  });
});
