import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../config/index.ts';
import { createMongo } from '../../lib/clients.ts';
import { requireCommand } from '../prereqs.ts';
import { runStep } from '../proc.ts';
import { cacheStamp, type LocalService } from '../service.ts';

// FerretDB 1.24.2 (MongoDB wire protocol) on its SQLite backend, built from the Go module proxy.
// The upstream command refuses to start when built with `go install`, so infra/ferretdb/main.go
// embeds the library; its go.mod/go.sum pin every module.

export const FERRETDB_VERSION = '1.24.2';
const PORT = 27017;
const SOURCE = join(REPO_ROOT, 'infra/ferretdb');

function sourceHash(): string {
  const h = createHash('sha256');
  for (const f of ['main.go', 'go.mod', 'go.sum']) h.update(readFileSync(join(SOURCE, f)));
  return h.digest('hex').slice(0, 16);
}

/**
 * Moves aside, before FerretDB starts, the database files it could not open (see
 * infra/ferretdb/check_dbs.py: one empty file stops the whole server), and WAL files left without
 * their database by a drop. Nothing is deleted: they go to `quarantine/<time>/`, and it is said.
 */
export function quarantineBroken(
  dataDir: string,
  quarantineDir: string,
  print: (line: string) => void,
): void {
  if (!existsSync(dataDir)) return;
  const files = readdirSync(dataDir);
  const broken = new Set<string>();
  const check = spawnSync('python3', [join(SOURCE, 'check_dbs.py'), dataDir], { encoding: 'utf8' });
  if (check.status === 0) for (const f of check.stdout.split('\n').filter(Boolean)) broken.add(f);
  else
    print(
      `mongodb: could not check the SQLite files (python3: ${check.error?.message ?? check.stderr.trim()})`,
    );
  const moving = files.filter((f) => {
    const db = f.replace(/-(wal|shm)$/, '');
    return broken.has(db) || (db !== f && !files.includes(db));
  });
  if (moving.length === 0) return;
  const to = join(quarantineDir, new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(to, { recursive: true });
  for (const f of moving) renameSync(join(dataDir, f), join(to, f));
  print(
    `mongodb: moved ${moving.length} file(s) FerretDB cannot open to ${to}: ${[...broken].join(', ') || 'WAL files of dropped databases'}`,
  );
}

export const ferretdb: LocalService = {
  name: 'mongodb',
  describe: `FerretDB ${FERRETDB_VERSION} on SQLite (MongoDB wire protocol)`,
  variable: 'REGFLOW_MONGODB_URL',
  endpoint: (c) => c.mongodb.url,
  isExternal: (c) => c.mongodb.external,
  ports: [PORT],
  startTimeoutMs: 30_000,

  async provision(ctx) {
    const stamp = cacheStamp(ctx.cacheDir, `ferretdb ${FERRETDB_VERSION} ${sourceHash()}`);
    if (stamp.ok()) return;
    const go = await requireCommand(
      'go',
      'install Go 1.22+ (https://go.dev/doc/install or Debian golang-go)',
    );
    ctx.print(
      `building FerretDB ${FERRETDB_VERSION} with go build (modules from the Go module proxy; ~2 min the first time)`,
    );
    await runStep(go, ['build', '-trimpath', '-o', join(ctx.cacheDir, 'ferretdb'), '.'], {
      cwd: SOURCE,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
      print: ctx.print,
    });
    stamp.write();
  },

  async command(ctx) {
    const dataDir = join(ctx.dataDir, 'sqlite');
    quarantineBroken(dataDir, join(ctx.dataDir, 'quarantine'), ctx.print);
    return {
      cmd: join(ctx.cacheDir, 'ferretdb'),
      args: ['--listen-addr', `127.0.0.1:${PORT}`, '--data-dir', dataDir, '--log-level', 'warn'],
      marker: dataDir,
    };
  },

  async healthy(config) {
    const client = createMongo(config.mongodb);
    try {
      await client.connect();
      const res = await client.db('admin').command({ ping: 1 });
      return res.ok === 1;
    } finally {
      await client.close().catch(() => {});
    }
  },
};
