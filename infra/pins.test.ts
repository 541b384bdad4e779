import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../config/index.ts';
import { FERRETDB_VERSION } from './services/ferretdb.ts';
import { KAFKA_VERSION } from './services/kafka.ts';
import { MOTO_VERSION } from './services/moto.ts';

// The versions infra prints are the versions its pinned inputs install.
const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

describe('infra pins', () => {
  it('installs the versions it names', () => {
    expect(read('infra/kafka/pom.xml')).toContain(`<kafka.version>${KAFKA_VERSION}</kafka.version>`);
    expect(read('infra/moto/requirements.txt')).toMatch(new RegExp(`^moto==${MOTO_VERSION}$`, 'm'));
    expect(read('infra/ferretdb/go.mod')).toMatch(
      new RegExp(`github.com/FerretDB/FerretDB v${FERRETDB_VERSION}\\b`),
    );
  });

  it('pins every Python dependency of moto', () => {
    const lines = read('infra/moto/requirements.txt')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) expect(line).toMatch(/^[A-Za-z0-9_.-]+==[\w.+-]+$/);
  });
});
