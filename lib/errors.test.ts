import { describe, expect, it } from 'vitest';
import { ConfigError, isRetriable, PermanentError, RetriableError, ValidationError } from './errors.ts';

describe('isRetriable', () => {
  it.each([
    ['a RetriableError', new RetriableError('timeout'), true],
    ['a PermanentError', new PermanentError('bad'), false],
    ['a ValidationError', new ValidationError('email', 'not an address'), false],
    [
      'a kafkajs retriable error',
      Object.assign(new Error('leader not available'), { retriable: true }),
      true,
    ],
    [
      'an AWS throttling error',
      Object.assign(new Error('slow down'), { $retryable: { throttling: true } }),
      true,
    ],
    ['an AWS 503', Object.assign(new Error('unavailable'), { $metadata: { httpStatusCode: 503 } }), true],
    ['an AWS 400', Object.assign(new Error('validation'), { $metadata: { httpStatusCode: 400 } }), false],
    ['a refused connection', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), true],
    [
      "the AWS SDK's request timeout",
      Object.assign(new Error('a request has exceeded the configured 500 ms requestTimeout'), {
        name: 'TimeoutError',
        code: 'ETIMEDOUT',
      }),
      true,
    ],
    [
      "the AWS SDK's connection timeout",
      Object.assign(new Error('did not establish a connection'), { name: 'TimeoutError' }),
      true,
    ],
    [
      "MongoDB's socket timeout",
      Object.assign(new Error('connection 3 to 127.0.0.1:27017 timed out'), {
        name: 'MongoNetworkTimeoutError',
      }),
      true,
    ],
    ["ioredis's command timeout", new Error('Command timed out'), true],
    [
      'FerretDB busy (SQLite locked)',
      Object.assign(new Error('database is locked (5) (SQLITE_BUSY)'), { name: 'MongoServerError' }),
      true,
    ],
    ['another MongoServerError', Object.assign(new Error('bad $set'), { name: 'MongoServerError' }), false],
    ['a plain Error', new Error('boom'), false],
    ['a string', 'boom', false],
    ['null', null, false],
  ])('classifies %s', (_, err, expected) => {
    expect(isRetriable(err)).toBe(expected);
  });

  it('never throws, even on a hostile object', () => {
    const hostile = new Proxy(
      {},
      {
        get: () => {
          throw new Error('trap');
        },
      },
    );
    expect(isRetriable(hostile)).toBe(false);
  });

  it('names the field and the variable in messages', () => {
    expect(new ValidationError('phone', 'not E.164').message).toBe('phone: not E.164');
    expect(new ConfigError('REGFLOW_X', 'missing').message).toBe('REGFLOW_X: missing');
  });
});
