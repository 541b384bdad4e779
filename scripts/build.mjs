// `npm run build [-- --out-dir DIR] [-- --no-check]`: compiles the TypeScript to JavaScript with
// tsconfig.build.json and copies the files the code reads at run time (the Avro schemas), so
// `node <out>/cli/regflow.js` runs without tsx. The sources import each other with `.ts` suffixes
// (tsx runs them as they are); TypeScript >= 5.7's rewriteRelativeImportExtensions turns those
// into `.js` in the output. Plain JS: it runs before anything is compiled.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const at = args.indexOf('--out-dir');
const outDir = resolve(root, at >= 0 ? args[at + 1] : 'dist');
// --no-check: emit without type checking (tsc --noCheck), for the test that only needs to know the
// output runs; `npm test` type-checks the same sources anyway.
const check = !args.includes('--no-check');

rmSync(outDir, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    join(root, 'node_modules/typescript/bin/tsc'),
    '-p',
    join(root, 'tsconfig.build.json'),
    '--outDir',
    outDir,
    ...(check ? [] : ['--noCheck']),
  ],
  { cwd: root, stdio: 'inherit' },
);
const schemas = join(outDir, 'schemas');
mkdirSync(schemas, { recursive: true });
const avsc = readdirSync(join(root, 'schemas')).filter((f) => f.endsWith('.avsc'));
for (const f of avsc) copyFileSync(join(root, 'schemas', f), join(schemas, f));
console.log(`build: ${outDir} (${avsc.length} schemas copied${check ? '' : ', not type-checked'})`);
