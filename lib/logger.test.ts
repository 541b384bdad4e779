import { Writable } from 'node:stream';
import { logLevel as KafkaLogLevel } from 'kafkajs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { kafkaLevelOf, kafkaLogCreator, REDACT_PATHS } from './logger.ts';

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

describe('kafkajs log levels', () => {
  it('logs routine rebalances and fencing at info, retried conditions at debug, the rest as kafkajs says', () => {
    expect(
      kafkaLevelOf(
        KafkaLogLevel.ERROR,
        'Error when heartbeating The group is rebalancing, so a rejoin is needed',
      ),
    ).toBe('info');
    expect(
      kafkaLevelOf(KafkaLogLevel.ERROR, 'Failed to commit Producer attempted an operation with an old epoch'),
    ).toBe('info');
    expect(kafkaLevelOf(KafkaLogLevel.ERROR, 'Response EndTxn CONCURRENT_TRANSACTIONS')).toBe('debug');
    expect(kafkaLevelOf(KafkaLogLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:9092')).toBe(
      'error',
    );
    expect(
      kafkaLevelOf(KafkaLogLevel.WARN, 'Limiting retries for the idempotent producer may invalidate EoS'),
    ).toBe('debug');
    expect(kafkaLevelOf(KafkaLogLevel.INFO, 'Consumer has joined the group')).toBe('debug');
  });

  it('puts kafkajs’s error under err', () => {
    const { lines, logger } = capture();
    kafkaLogCreator(logger)()({
      namespace: 'Connection',
      level: KafkaLogLevel.ERROR,
      label: 'ERROR',
      log: {
        message: 'Connection error',
        error: 'connect ECONNREFUSED',
        broker: '127.0.0.1:9092',
        timestamp: 'x',
        logger: 'kafkajs',
      },
    });
    expect(lines[0]).toMatchObject({
      msg: 'Connection error',
      err: 'connect ECONNREFUSED',
      broker: '127.0.0.1:9092',
      level: 50,
    });
    expect(lines[0]).not.toHaveProperty('error');
  });
});
