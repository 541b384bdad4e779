import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { InfraError } from '../lib/errors.ts';
import { capture, type Printer, runStep } from './proc.ts';

// Missing tools get a message that names what to install, never a stack trace.

export async function which(cmd: string): Promise<string | null> {
  const out = await capture('sh', ['-c', `command -v ${cmd}`]);
  const path = out?.stdout.trim();
  return path ? path : null;
}

export async function requireCommand(cmd: string, install: string): Promise<string> {
  const path = await which(cmd);
  if (path === null) throw new InfraError(`'${cmd}' is not installed: ${install}`);
  return path;
}

/**
 * Installs a Debian package when we are root and apt-get exists (it is a prerequisite the machine
 * may lack, like redis-server); otherwise names the package to install.
 */
export async function ensureDebianPackage(cmd: string, pkg: string, print: Printer): Promise<string> {
  const found = await which(cmd);
  if (found) return found;
  const apt = await which('apt-get');
  if (apt === null || process.getuid?.() !== 0) {
    throw new InfraError(
      `'${cmd}' is not installed: install the Debian package '${pkg}' (apt-get install -y ${pkg})`,
    );
  }
  print(`installing Debian package ${pkg} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runStep('apt-get', ['update', '-qq'], { env, print });
  await runStep('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { env, print });
  return requireCommand(cmd, `install the Debian package '${pkg}'`);
}

async function javaMajor(javaBin: string): Promise<number | null> {
  const out = await capture(javaBin, ['-version']);
  const match = out?.stderr.match(/version "(\d+)(?:\.(\d+))?/);
  if (!match) return null;
  const major = Number(match[1]);
  return major === 1 ? Number(match[2]) : major;
}

/**
 * A Java runtime of at least `min`: JAVA_HOME, then `java` on PATH, then every JDK under
 * /usr/lib/jvm (the polyglot machines carry a second, newer Temurin JDK there).
 */
export async function findJava(min: number): Promise<{ bin: string; major: number }> {
  const candidates: string[] = [];
  if (process.env.JAVA_HOME) candidates.push(join(process.env.JAVA_HOME, 'bin', 'java'));
  const onPath = await which('java');
  if (onPath) candidates.push(onPath);
  if (existsSync('/usr/lib/jvm')) {
    for (const d of readdirSync('/usr/lib/jvm').sort().reverse())
      candidates.push(join('/usr/lib/jvm', d, 'bin', 'java'));
  }
  const seen: string[] = [];
  for (const bin of candidates) {
    if (!existsSync(bin)) continue;
    const major = await javaMajor(bin);
    if (major === null) continue;
    seen.push(`${bin} (${major})`);
    if (major >= min) return { bin, major };
  }
  throw new InfraError(
    `a Java ${min}+ runtime is needed and none was found (${seen.join(', ') || 'no java at all'}): ` +
      `install one (Debian: apt-get install -y openjdk-${min}-jre-headless, or set JAVA_HOME)`,
  );
}
