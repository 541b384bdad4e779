import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { REDACT_PATHS } from './logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { lines, logger: pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream) };
}

describe('logger redaction', () => {
  it('hides email, phone and names wherever a logged record carries them', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        email: 'fan@example.com',
        value: { email: 'fan@example.com', phoneNumber: '+12125550100', firstName: 'Ada', markets: ['LA'] },
        record: { value: { fan: { lastName: 'Lovelace', postalCode: '90012' } } },
        offset: '42',
      },
      'handled',
    );
    const text = JSON.stringify(lines[0]);
    for (const secret of ['fan@example.com', '+12125550100', 'Ada', 'Lovelace', '90012'])
      expect(text).not.toContain(secret);
    expect(lines[0]).toMatchObject({ offset: '42', value: { markets: ['LA'], email: '[redacted]' } });
  });
});
