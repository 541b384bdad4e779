import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { quarantineBroken } from './services/ferretdb.ts';

// FerretDB refuses to start when one database file lacks its metadata table (an empty file left by
// a crash during a drop): infra moves such files aside before it starts FerretDB. Real SQLite files
// (python3's sqlite3, the checker's own library).

function sqlite(file: string, sql: string) {
  const script =
    'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.close()';
  const r = spawnSync('python3', ['-c', script, file, sql], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

describe('quarantineBroken', () => {
  it('moves a database without FerretDB metadata and orphan WAL files aside, and keeps sound ones', () => {
    const root = mkdtempSync(join(tmpdir(), 'regflow-ferret-'));
    const data = join(root, 'sqlite');
    mkdirSync(data);
    sqlite(join(data, 'good.sqlite'), 'create table _ferretdb_collections (name text); create table t (x);');
    sqlite(join(data, 'empty.sqlite'), 'create table other (x); drop table other;');
    writeFileSync(join(data, 'empty.sqlite-shm'), Buffer.alloc(32_768));
    writeFileSync(join(data, 'dropped.sqlite-wal'), '');
    writeFileSync(join(data, 'good.sqlite-wal'), '');
    const said: string[] = [];
    quarantineBroken(data, join(root, 'quarantine'), (l) => said.push(l));

    expect(readdirSync(data).sort()).toEqual(['good.sqlite', 'good.sqlite-wal']);
    const [moved] = readdirSync(join(root, 'quarantine'));
    expect(readdirSync(join(root, 'quarantine', moved!)).sort()).toEqual([
      'dropped.sqlite-wal',
      'empty.sqlite',
      'empty.sqlite-shm',
    ]);
    expect(said.join('\n')).toMatch(/moved 3 file\(s\).*empty\.sqlite/);

    said.length = 0;
    quarantineBroken(data, join(root, 'quarantine'), (l) => said.push(l));
    expect(said).toEqual([]); // nothing left to move
  });
});
