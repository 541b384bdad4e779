// `npm run build [-- --out-dir DIR] [-- --no-check] [-- --entry FILE]`: compiles the TypeScript to
// JavaScript with tsconfig.build.json and copies the files the code reads at run time (the Avro
// schemas), so `node <out>/cli/regflow.js` runs without tsx. `--entry` compiles that one file and
// what it imports instead of the whole project, with the same options (a benchmark runs the test
// fixtures this way: the project build leaves test/ out). The sources import each other with `.ts` suffixes
// (tsx runs them as they are); TypeScript >= 5.7's rewriteRelativeImportExtensions turns those
// into `.js` in the output. Plain JS: it runs before anything is compiled.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const at = args.indexOf('--out-dir');
const outDir = resolve(root, at >= 0 ? args[at + 1] : 'dist');
// --no-check: emit without type checking (tsc --noCheck), for the test that only needs to know the
// output runs; `npm test` type-checks the same sources anyway.
const check = !args.includes('--no-check');
const entryAt = args.indexOf('--entry');
const entry = entryAt >= 0 ? resolve(root, args[entryAt + 1]) : null;

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
// With --entry: tsconfig.build.json narrowed to that file (tsc follows its imports), written
// beside the output since a tsconfig's paths are relative to where it lies.
const project = entry === null ? join(root, 'tsconfig.build.json') : join(outDir, 'tsconfig.entry.json');
if (entry !== null)
  writeFileSync(
    project,
    JSON.stringify({
      extends: join(root, 'tsconfig.build.json'),
      // typeRoots: the output may lie outside the clone, where node_modules is not found upward.
      compilerOptions: { rootDir: root, typeRoots: [join(root, 'node_modules/@types')] },
      files: [entry],
      include: [],
    }),
  );
execFileSync(
  process.execPath,
  [
    join(root, 'node_modules/typescript/bin/tsc'),
    '-p',
    project,
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
