import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../config/index.ts';
import { createMongo } from '../../lib/clients.ts';
import { requireCommand } from '../prereqs.ts';
import { runStep } from '../proc.ts';
import { cacheStamp, type LocalService } from '../service.ts';

// FerretDB 1.24.2 (MongoDB wire protocol) on its SQLite backend, built from the Go module proxy.
// The upstream command refuses to start when built with `go install`, so infra/ferretdb/main.go
// embeds the library; its go.mod/go.sum pin every module.
//
// Two patches, applied at build time to a copy of the module (`go build -modfile` with a replace;
// the module cache stays pristine), both about FerretDB's `_id` index on SQLite:
// 1. FerretDB 1.24.2 filters by `_id` with the expression `_ferretdb_sjson->'$._id'`, while the
//    unique `_id` index it creates is on `_ferretdb_sjson->"_id"`. SQLite matches an index to an
//    expression by its text, so every find, update and delete by `_id` scanned the whole table
//    (EXPLAIN QUERY PLAN: SCAN; an updateOne by _id cost 50 ms at 20,000 documents). Both
//    expressions select the same value; the patch makes the filters use the index's spelling.
// 2. It pushes the `_id` equality down only when the filter has no other key, so a guarded write
//    (`{_id, version: {$lt: v}}`) scanned too. Pushdown only narrows what the backend returns:
//    every handler (find, count, update, delete, findAndModify, aggregate) applies the whole
//    filter to what comes back, so an `_id` equality is pushed down whatever else the filter has.

export const FERRETDB_VERSION = '1.24.2';
const PORT = 27017;
const SOURCE = join(REPO_ROOT, 'infra/ferretdb');

/** Source edits on the FerretDB module: file, upstream text, ours, and how many times it occurs. */
const PATCHES = [
  {
    file: 'internal/backends/sqlite/metadata/metadata.go',
    from: `IDColumn = DefaultColumn + "->'$._id'"`,
    to: `IDColumn = DefaultColumn + "->'_id'"`,
    times: 1,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    from: 'if params.Filter.Len() == 1 {',
    to: 'if params.Filter.Len() >= 1 {',
    times: 2, // Query and Explain
  },
] as const;

function sourceHash(): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(PATCHES));
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

/**
 * Copies the FerretDB module out of the Go module cache (which is read-only, and `go build -overlay`
 * refuses to replace files in it), patches the copy, and writes a go.mod (for `-modfile`) that
 * replaces the module with it; returns that go.mod's path. Fails loudly when the upstream line is
 * not there (a FerretDB upgrade must revisit the patch).
 */
function patchedModule(go: string, env: NodeJS.ProcessEnv, cacheDir: string): string {
  const download = spawnSync(
    go,
    ['mod', 'download', '-json', `github.com/FerretDB/FerretDB@v${FERRETDB_VERSION}`],
    {
      cwd: SOURCE,
      env,
      encoding: 'utf8',
    },
  );
  if (download.status !== 0)
    throw new Error(`go mod download of FerretDB ${FERRETDB_VERSION} failed: ${download.stderr.trim()}`);
  const upstream = (JSON.parse(download.stdout) as { Dir: string }).Dir;
  const dir = join(cacheDir, 'ferretdb-patched');
  const copy = join(dir, 'module');
  rmSync(dir, { recursive: true, force: true });
  cpSync(upstream, copy, { recursive: true });
  chmodTree(copy);
  for (const patch of PATCHES) {
    const file = join(copy, patch.file);
    const parts = readFileSync(file, 'utf8').split(patch.from);
    if (parts.length - 1 !== patch.times)
      throw new Error(
        `FerretDB ${FERRETDB_VERSION}: ${patch.file} has ${parts.length - 1} of ${JSON.stringify(patch.from)}, not ${patch.times}; revisit the patch`,
      );
    writeFileSync(file, parts.join(patch.to));
  }
  const modfile = join(dir, 'go.mod');
  writeFileSync(
    modfile,
    `${readFileSync(join(SOURCE, 'go.mod'), 'utf8')}\nreplace github.com/FerretDB/FerretDB v${FERRETDB_VERSION} => ${copy}\n`,
  );
  cpSync(join(SOURCE, 'go.sum'), join(dir, 'go.sum'));
  return modfile;
}

/** The module cache's files are read-only; the copy must be writable (and removable next time). */
function chmodTree(path: string): void {
  chmodSync(path, 0o755);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) chmodTree(p);
    else chmodSync(p, 0o644);
  }
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
    const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' };
    const modfile = patchedModule(go, env, ctx.cacheDir);
    await runStep(
      go,
      ['build', '-trimpath', `-modfile=${modfile}`, '-o', join(ctx.cacheDir, 'ferretdb'), '.'],
      {
        cwd: SOURCE,
        env,
        print: ctx.print,
      },
    );
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
