import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { REPO_ROOT } from '../../config/index.ts';
import { createDynamoDb } from '../../lib/clients.ts';
import { requireCommand } from '../prereqs.ts';
import { runStep } from '../proc.ts';
import { cacheStamp, type LocalService } from '../service.ts';

// moto's server (PyPI) in a virtualenv in the cache: the DynamoDB API with the Streams API on one
// endpoint (it routes DynamoDBStreams_20120810.* to its streams backend), and S3 for the CRM bucket.
// State is in memory: a restart starts empty (POST /moto-api/reset empties it too).

export const MOTO_VERSION = '5.2.5';
const PORT = 4566;
const REQUIREMENTS = 'infra/moto/requirements.txt';

const requirementsHash = () =>
  createHash('sha256')
    .update(readFileSync(join(REPO_ROOT, REQUIREMENTS)))
    .digest('hex')
    .slice(0, 16);

export const moto: LocalService = {
  name: 'dynamodb',
  describe: `moto ${MOTO_VERSION} server (DynamoDB + Streams + S3 APIs)`,
  variable: 'REGFLOW_DYNAMODB_ENDPOINT',
  endpoint: (c) =>
    c.s3.endpoint === c.dynamodb.endpoint
      ? c.dynamodb.endpoint
      : `${c.dynamodb.endpoint} (S3 ${c.s3.endpoint})`,
  isExternal: (c) => c.dynamodb.external,
  ports: [PORT],
  startTimeoutMs: 30_000,

  async provision(ctx) {
    const venv = join(ctx.cacheDir, 'venv');
    const stamp = cacheStamp(ctx.cacheDir, `moto ${MOTO_VERSION} ${requirementsHash()}`);
    if (stamp.ok()) return;
    const python = await requireCommand(
      'python3',
      "install Python 3.9+ (Debian packages 'python3' and 'python3-venv')",
    );
    ctx.print(
      `creating a virtualenv in ${venv} and installing moto[server]==${MOTO_VERSION} from PyPI (pinned: ${REQUIREMENTS})`,
    );
    await runStep(python, ['-m', 'venv', '--clear', venv], { print: ctx.print });
    await runStep(
      join(venv, 'bin', 'pip'),
      [
        'install',
        '--disable-pip-version-check',
        '--progress-bar',
        'off',
        '-r',
        join(REPO_ROOT, REQUIREMENTS),
      ],
      { print: (l) => /^(Collecting|Successfully|ERROR)/.test(l) && ctx.print(l) },
    );
    stamp.write();
  },

  async command(ctx) {
    // infra/moto/launch.py runs moto_server's own main with its stream numbering made thread-safe.
    const launcher = join(REPO_ROOT, 'infra', 'moto', 'launch.py');
    return {
      cmd: join(ctx.cacheDir, 'venv', 'bin', 'python3'),
      args: [launcher, '-H', '127.0.0.1', '-p', String(PORT)],
      marker: launcher,
    };
  },

  async healthy(config) {
    const client = createDynamoDb(config.dynamodb);
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(3_000) });
      return true;
    } finally {
      client.destroy();
    }
  },
};
