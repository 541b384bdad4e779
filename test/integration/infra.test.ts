import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.ts';
import { findJava } from '../../infra/prereqs.ts';
import { runStep } from '../../infra/proc.ts';
import { serverProperties, storageFormatArgs } from '../../infra/services/kafka.ts';
import { status, up } from '../../infra/stack.ts';
import { config } from '../support.ts';

// The local stack as an operator meets it (the global setup has brought it up already).

const otherDataDir = mkdtempSync(join(tmpdir(), 'regflow-other-'));
afterAll(() => rmSync(otherDataDir, { recursive: true, force: true }));

describe('infra', () => {
  it('starts nothing when the services already run', async () => {
    const reports = await up(config, { services: ['redis', 'mongodb'], print: () => {} });
    expect(reports.map((r) => r.state)).toEqual(['running', 'running']);
    const [redis] = await status(config, { services: ['redis'] });
    expect(redis).toMatchObject({ state: 'running' });
    expect(redis?.rssMiB).toBeGreaterThan(0);
  });

  it('names the port and the process holding it when another checkout’s service is in the way', async () => {
    // Another data dir has no pid file for redis, so for it port 6379 belongs to someone else.
    const other = loadConfig({ ...process.env, REGFLOW_DATA_DIR: otherDataDir });
    const error = await up(other, { services: ['redis'], print: () => {} }).catch((e: unknown) => e);
    expect(String(error)).toMatch(
      /port 6379 \(needed by redis\) is already taken by pid \d+ \(\S*redis-server/,
    );
    expect(String(error)).toMatch(/REGFLOW_REDIS_URL/);
  });

  it('names the variable when an existing service it points at does not answer', async () => {
    const external = loadConfig({ ...process.env, REGFLOW_REDIS_URL: 'redis://127.0.0.1:1' });
    const error = await up(external, { services: ['redis'], print: () => {} }).catch((e: unknown) => e);
    expect(String(error)).toMatch(
      /REGFLOW_REDIS_URL points at redis:\/\/127\.0\.0\.1:1, which does not answer/,
    );
  }, 30_000);

  it("formats Kafka's storage with a cluster id that starts with '-'", async () => {
    // base64url index 62 is '-': a first byte of 0xF8 makes the id start with it, as a random id
    // does about once in 64.
    const clusterId = Buffer.concat([Buffer.from([0xf8]), randomBytes(15)]).toString('base64url');
    expect(clusterId.startsWith('-')).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'regflow-kraft-'));
    try {
      const props = join(dir, 'server.properties');
      writeFileSync(props, serverProperties(join(dir, 'log')));
      const java = await findJava(17);
      const args = storageFormatArgs({
        classpath: `${join(config.paths.cacheDir, 'kafka', 'libs')}/*`,
        log4j: '-Dlog4j.configuration=file:/dev/null',
        clusterId,
        props,
      });
      await runStep(java.bin, args, { print: () => {} });
      expect(readFileSync(join(dir, 'log', 'meta.properties'), 'utf8')).toContain(`cluster.id=${clusterId}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
