import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, REPO_ROOT } from '../config/index.ts';
import { ConfigError } from '../lib/errors.ts';
import { choosePath, composeImages, dockerReachable, servicesPath } from './containers.ts';

// The choice between the local services and testcontainers (test/global-setup.ts). The container
// path itself needs a Docker engine and is not exercised on the machines regflow is built on.

describe('the tests’ services path', () => {
  it('reads REGFLOW_TEST_CONTAINERS: 0 (default), 1, auto; anything else names the variable', () => {
    expect(loadConfig({}).testContainers).toBe('off');
    expect(loadConfig({ REGFLOW_TEST_CONTAINERS: '1' }).testContainers).toBe('on');
    expect(loadConfig({ REGFLOW_TEST_CONTAINERS: 'auto' }).testContainers).toBe('auto');
    expect(() => loadConfig({ REGFLOW_TEST_CONTAINERS: 'docker' })).toThrow(ConfigError);
    expect(() => loadConfig({ REGFLOW_TEST_CONTAINERS: 'docker' })).toThrow(/REGFLOW_TEST_CONTAINERS/);
  });

  it('takes containers only when asked and Docker answers; 1 without Docker is an error, auto falls back', () => {
    expect(choosePath('off', true)).toBe('local');
    expect(choosePath('off', false)).toBe('local');
    expect(choosePath('auto', true)).toBe('containers');
    expect(choosePath('auto', false)).toBe('local');
    expect(choosePath('on', true)).toBe('containers');
    expect(() => choosePath('on', false)).toThrow(/REGFLOW_TEST_CONTAINERS=1 .*no Docker engine/);
  });

  it("asks testcontainers' own runtime detection, and never for the default", async () => {
    expect(await servicesPath('off')).toBe('local');
    const reachable = await dockerReachable();
    expect(await servicesPath('auto')).toBe(reachable ? 'containers' : 'local');
  }, 30_000);

  it('starts the images docker-compose.kafka.yml pins', () => {
    const images = composeImages();
    const compose = readFileSync(join(REPO_ROOT, 'docker-compose.kafka.yml'), 'utf8');
    for (const [service, image] of Object.entries(images)) {
      expect(image, service).toMatch(/^[a-z0-9./-]+:\d[\w.-]*$/);
      expect(compose).toContain(`image: ${image}`);
    }
    expect(images.kafka).toBe('apache/kafka:3.9.1');
  });
});
