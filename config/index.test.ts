import { describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors.ts';
import { loadConfig } from './index.ts';

describe('loadConfig', () => {
  it('uses the local defaults and marks nothing external when no variable is set', () => {
    const config = loadConfig({ HOME: '/home/fan' });
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(config.kafka.external).toBe(false);
    expect(config.schemaRegistry.url).toBe('http://127.0.0.1:8081/apis/ccompat/v7');
    expect(config.mongodb.database).toBe('regflow');
    expect(config.logLevel).toBe('info');
  });

  it('treats a set variable as an existing service to use', () => {
    const config = loadConfig({
      REGFLOW_KAFKA_BROKERS: 'k1:9092, k2:9092',
      REGFLOW_REDIS_URL: 'redis://cache:6380',
    });
    expect(config.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
    expect(config.kafka.external).toBe(true);
    expect(config.redis.external).toBe(true);
    expect(config.dynamodb.external).toBe(false);
  });

  it('is frozen all the way down', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.kafka.brokers)).toBe(true);
    expect(() => {
      (config.kafka as { clientId: string }).clientId = 'other';
    }).toThrow(TypeError);
  });

  it.each([
    ['REGFLOW_KAFKA_BROKERS', 'localhost', /REGFLOW_KAFKA_BROKERS: expected host:port/],
    ['REGFLOW_SCHEMA_REGISTRY_URL', 'not a url', /REGFLOW_SCHEMA_REGISTRY_URL: expected a URL/],
    ['REGFLOW_MONGODB_URL', 'mongodb://db:27017', /REGFLOW_MONGODB_URL: name the database/],
    ['REGFLOW_REDIS_URL', 'http://cache', /REGFLOW_REDIS_URL: expected a redis:\/\/ URL/],
    ['REGFLOW_LOG_LEVEL', 'loud', /REGFLOW_LOG_LEVEL: .*(Invalid enum|expected one of)/i],
    ['REGFLOW_AWS_REGION', 'mars', /REGFLOW_AWS_REGION: expected a region/],
    ['REGFLOW_JWT_SECRET', 'short', /REGFLOW_JWT_SECRET: expected at least 32 characters/],
    ['REGFLOW_DEMAND_TABLE', 'a b', /REGFLOW_DEMAND_TABLE: expected a DynamoDB table name/],
    ['REGFLOW_API_PORT', '70000', /REGFLOW_API_PORT: expected 0 to 65535/],
    ['REGFLOW_REDIS_PREFIX', 'has space', /REGFLOW_REDIS_PREFIX: letters, digits/],
  ])('rejects a bad %s, naming the variable', (name, value, message) => {
    const attempt = () => loadConfig({ [name]: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });
});

describe('README', () => {
  it('documents every variable the loader reads', async () => {
    const { readFileSync } = await import('node:fs');
    const { VARIABLES, REPO_ROOT } = await import('./index.ts');
    const readme = readFileSync(`${REPO_ROOT}/README.md`, 'utf8');
    for (const name of Object.keys(VARIABLES))
      expect(readme, name).toMatch(new RegExp(`\\|\\s*\`${name}\`\\s*\\|`));
  });
});

describe('runtime settings', () => {
  it('parses whole numbers within bounds and names the variable otherwise', () => {
    expect(loadConfig({ REGFLOW_HTTP_PORT: '0', REGFLOW_BATCH_MAX_RECORDS: '1000' }).runtime).toMatchObject({
      httpPort: 0,
      batchMaxRecords: 1000,
      sessionTimeoutMs: 30_000,
    });
    expect(() => loadConfig({ REGFLOW_KAFKA_SESSION_TIMEOUT_MS: '100' })).toThrow(
      /REGFLOW_KAFKA_SESSION_TIMEOUT_MS: expected 6000 to 300000/,
    );
    expect(() => loadConfig({ REGFLOW_HTTP_PORT: 'http' })).toThrow(
      /REGFLOW_HTTP_PORT: expected a whole number/,
    );
  });
});

describe('REGFLOW_CLOCK', () => {
  it('defaults to the system clock and accepts a simulated one', () => {
    expect(loadConfig({}).runtime.clock).toBe('system');
    const spec = 'simulated:2026-03-08T01:00:00-08:00,speed=1440,anchor=1700000000000';
    expect(loadConfig({ REGFLOW_CLOCK: spec }).runtime.clock).toBe(spec);
  });

  it('names the variable and the reason for a bad spec', () => {
    expect(() => loadConfig({ REGFLOW_CLOCK: 'fast' })).toThrow(
      /REGFLOW_CLOCK: expected "system" or "simulated/,
    );
    expect(() => loadConfig({ REGFLOW_CLOCK: 'simulated:yesterday' })).toThrow(
      /REGFLOW_CLOCK: start yesterday is not an ISO instant/,
    );
    expect(() => loadConfig({ REGFLOW_CLOCK: 'simulated:2026-01-01T00:00:00Z,warp=2' })).toThrow(
      /REGFLOW_CLOCK: unknown option warp/,
    );
  });
});
