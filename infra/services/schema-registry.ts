import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InfraError } from '../../lib/errors.ts';
import { findJava, requireCommand } from '../prereqs.ts';
import { ensureDir, runStep } from '../proc.ts';
import { cacheStamp, type LocalService } from '../service.ts';

// Apicurio Registry 3.3.3 from Maven Central, spoken to through its Confluent-compatible API
// (/apis/ccompat/v7). It needs Java 21+; schemas persist in an H2 file under the data dir so
// schema ids stay valid for records already on the topics across restarts.

export const APICURIO_VERSION = '3.3.3';
const ARTIFACT = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`;
const HTTP_PORT = 8081;
const MANAGEMENT_PORT = 9081;
export const GLOBAL_COMPATIBILITY = 'BACKWARD';

async function registryJson(url: string, init?: RequestInit): Promise<unknown> {
  const res = await fetch(url, {
    ...init,
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json', ...init?.headers },
    signal: AbortSignal.timeout(3_000),
  });
  if (!res.ok)
    throw new InfraError(`${init?.method ?? 'GET'} ${url} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

export const schemaRegistry: LocalService = {
  name: 'schema-registry',
  describe: `Apicurio Registry ${APICURIO_VERSION} (Confluent-compatible API)`,
  variable: 'REGFLOW_SCHEMA_REGISTRY_URL',
  endpoint: (c) => c.schemaRegistry.url,
  isExternal: (c) => c.schemaRegistry.external,
  ports: [HTTP_PORT, MANAGEMENT_PORT],
  startTimeoutMs: 90_000,

  async provision(ctx) {
    const dist = join(ctx.cacheDir, 'dist');
    const stamp = cacheStamp(ctx.cacheDir, `apicurio ${APICURIO_VERSION}`);
    if (stamp.ok()) return;
    await findJava(21);
    const mvn = await requireCommand('mvn', "install Maven (Debian package 'maven')");
    const download = ensureDir(join(ctx.cacheDir, 'download'));
    ctx.print(`downloading ${ARTIFACT} from Maven Central (~120 MB)`);
    await runStep(
      mvn,
      [
        '-B',
        'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy',
        `-Dartifact=${ARTIFACT}`,
        `-DoutputDirectory=${download}`,
      ],
      {
        print: (l) => /^\[INFO\] Downloaded from|BUILD|ERROR/.test(l) && ctx.print(l.replace('[INFO] ', '')),
      },
    );
    rmSync(dist, { recursive: true, force: true });
    ensureDir(dist);
    ctx.print(`unpacking into ${dist}`);
    await runStep(
      'tar',
      ['-xzf', join(download, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`), '-C', dist],
      { print: ctx.print },
    );
    if (!existsSync(join(dist, 'quarkus-run.jar'))) throw new InfraError(`no quarkus-run.jar in ${dist}`);
    rmSync(download, { recursive: true, force: true });
    stamp.write();
  },

  async command(ctx) {
    const java = await findJava(21);
    const db = join(ctx.dataDir, 'registry');
    return {
      cmd: java.bin,
      cwd: join(ctx.cacheDir, 'dist'),
      args: [
        '-Xms128m',
        '-Xmx512m',
        `-Dquarkus.http.host=127.0.0.1`,
        `-Dquarkus.http.port=${HTTP_PORT}`,
        `-Dquarkus.management.host=127.0.0.1`,
        `-Dquarkus.management.port=${MANAGEMENT_PORT}`,
        `-Dapicurio.rules.global.compatibility=${GLOBAL_COMPATIBILITY}`,
        `-Dapicurio.datasource.url=jdbc:h2:file:${db};DB_CLOSE_ON_EXIT=FALSE`,
        '-Dapicurio.datasource.jdbc.initial-size=2',
        '-Dapicurio.datasource.jdbc.min-size=2',
        '-Dapicurio.datasource.jdbc.max-size=20',
        '-Dquarkus.log.level=WARN',
        '-Dquarkus.log.category."io.quarkus".level=INFO',
        '-jar',
        'quarkus-run.jar',
      ],
      marker: db,
    };
  },

  async healthy(config) {
    await registryJson(`${config.schemaRegistry.url}/subjects`);
    return true;
  },

  async afterStart(config) {
    // The property sets the default; say it again through the API so a registry whose stored
    // global rule differs (an older data dir) is brought in line, and fail loudly if it will not take.
    const url = `${config.schemaRegistry.url}/config`;
    const current = (await registryJson(url)) as { compatibilityLevel?: string };
    if (current.compatibilityLevel !== GLOBAL_COMPATIBILITY) {
      await registryJson(url, {
        method: 'PUT',
        body: JSON.stringify({ compatibility: GLOBAL_COMPATIBILITY }),
      });
    }
  },
};
