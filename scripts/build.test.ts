import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../config/index.ts';
import { PROCESSORS } from '../processors/index.ts';

// The container image runs the compiled JavaScript (`npm run build`, Dockerfile). No Docker engine
// here: this builds into a directory of its own inside the clone (so node_modules resolves as in
// the image's /app) and runs the compiled command without tsx.

const run = promisify(execFile);
const outDir = join(REPO_ROOT, '.regflow', `build-test-${randomBytes(4).toString('hex')}`);
const regflow = (...args: string[]) =>
  run(process.execPath, [join(outDir, 'cli/regflow.js'), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, REGFLOW_LOG_LEVEL: 'warn' },
  });

afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('npm run build', () => {
  it('compiles to JavaScript that runs without tsx: regflow --help, topology, run (bad name)', async () => {
    // --no-check: `npm test` type-checks the same sources; here only the emitted code matters.
    await run(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs'), '--out-dir', outDir, '--no-check'], {
      cwd: REPO_ROOT,
    });

    const help = await regflow('--help');
    for (const command of ['run', 'connector', 'schedulers', 'api', 'topics', 'tail', 'replay', 'dlq'])
      expect(help.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));

    // Loads every module of the topology and the Avro schemas copied next to the compiled code.
    const topology = await regflow('topology');
    for (const name of Object.keys(PROCESSORS)) expect(topology.stdout).toContain(`group   ${name}`);

    // The image installs the production dependencies only: the compiled code imports nothing else.
    const { dependencies } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const imported = new Set<string>();
    for (const file of readdirSync(outDir, { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.js')) continue;
      const code = readFileSync(join(outDir, file), 'utf8');
      const pattern =
        /^\s*(?:import|export)\b[^;'"`]*?\bfrom\s*'([^'.][^']*)'|\bimport\(\s*'([^'.][^']*)'\s*\)/gm;
      for (const m of code.matchAll(pattern)) {
        const spec = (m[1] ?? m[2])!;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!name.startsWith('node:')) imported.add(name);
      }
    }
    expect([...imported].filter((name) => !(name in dependencies))).toEqual([]);
    expect(imported).toContain('kafkajs');

    // `run` loads every processor's module; an unknown name is refused before any connection.
    const refused = await regflow('run', 'no-such-processor').catch(
      (e: { stderr: string; code: number }) => e,
    );
    expect(refused).toMatchObject({ code: 1 });
    expect((refused as { stderr: string }).stderr).toMatch(/no-such-processor/);
  }, 90_000);

  it('--entry compiles one file and what it imports, which runs without tsx', async () => {
    const entryOut = `${outDir}-entry`;
    try {
      await run(
        process.execPath,
        [
          join(REPO_ROOT, 'scripts/build.mjs'),
          ...['--out-dir', entryOut, '--no-check', '--entry', 'test/fixtures/selection-process.ts'],
        ],
        { cwd: REPO_ROOT },
      );
      // Only what the entry imports: not the command line, which it does not.
      expect(existsSync(join(entryOut, 'cli/regflow.js'))).toBe(false);
      // The fixture's first check (its required variable) runs from the compiled code.
      const failed = await run(process.execPath, [join(entryOut, 'test/fixtures/selection-process.js')], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '' },
      }).catch((e: { stderr: string; code: number }) => e);
      expect(failed).toMatchObject({ code: 1 });
      expect((failed as { stderr: string }).stderr).toMatch(/FIXTURE_BASE is required/);
    } finally {
      rmSync(entryOut, { recursive: true, force: true });
    }
  }, 90_000);
});
