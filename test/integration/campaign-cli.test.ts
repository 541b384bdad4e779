import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.ts';
import { config, uniqueName } from '../support.ts';

// `regflow campaign …` as an operator runs it, against FerretDB (own database) and Redis.

const database = uniqueName('cli').replace(/-/g, '_');
const env = {
  ...process.env,
  REGFLOW_MONGODB_URL: config.mongodb.url.replace(/\/[^/?]*(\?|$)/, `/${database}$1`),
  REGFLOW_REDIS_PREFIX: `${uniqueName('cli')}:`,
};

function regflow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/regflow.js', ...args], { cwd: REPO_ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

afterAll(async () => {
  const client = new MongoClient(config.mongodb.url);
  await client
    .db(database)
    .dropDatabase()
    .catch(() => {});
  await client.close();
});

describe('regflow campaign', () => {
  it('applies the example file, imports invites, changes status; refuses what the rules refuse', async () => {
    const applied = await regflow('campaign', 'apply', '-f', 'examples/campaign.yaml');
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toMatch(
      /campaign spring-tour-2027 created: status ACTIVE, version 1, 2 market\(s\), 2 invite\(s\)/,
    );
    expect((await regflow('campaign', 'apply', '-f', 'examples/campaign.yaml')).stdout).toMatch(/unchanged/);

    const imported = await regflow(
      'campaign',
      'invites',
      'import',
      'spring-tour-2027',
      '-f',
      'examples/invites.csv',
    );
    expect(imported.stdout).toMatch(/2 invite\(s\) added, 4 on the list/);

    const closed = await regflow('campaign', 'status', 'spring-tour-2027', 'CLOSED');
    expect(closed.stdout).toMatch(/status CLOSED, closed at \d{4}-/);
    const reopen = await regflow('campaign', 'status', 'spring-tour-2027', 'ACTIVE');
    expect(reopen.code).toBe(1);
    expect(reopen.stderr).toMatch(/status: cannot go from CLOSED to ACTIVE/);

    const shown = JSON.parse((await regflow('campaign', 'show', 'spring-tour-2027')).stdout);
    expect(shown).toMatchObject({ status: 'CLOSED', inviteCount: 4, version: 3 });
  }, 180_000);

  it('names the field of a bad file, and the line of broken YAML', async () => {
    const bad = join(tmpdir(), `${uniqueName('bad')}.yaml`);
    await writeFile(bad, 'id: x\nname: X\nmarkets:\n  - id: nyc\n    ticketer: LN\n');
    const r = await regflow('campaign', 'apply', '-f', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/regflow: markets\.0\.name: Required/);
    await writeFile(bad, 'id: x\nname: [unclosed\n');
    const broken = await regflow('campaign', 'apply', '-f', bad);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/\.yaml:\d+: /);
  }, 120_000);
});
