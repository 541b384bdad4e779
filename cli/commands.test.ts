import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.ts';
import { PROCESSORS } from '../processors/index.ts';
import { COMMANDS, commandFilesFor } from './commands.ts';
import { pipelineComponents } from './start.ts';

// `regflow` imports only the running command's file (cli/commands.ts); `npm start` names the
// processors from the topology so its supervisor never imports their code (cli/start.ts).

const argv = (...args: string[]) => ['node', 'regflow', ...args];
const filesOf = (...args: string[]) => commandFilesFor(argv(...args)).map(([names]) => names[0]);

describe('regflow command files', () => {
  it('imports only the file of the command that runs', () => {
    expect(filesOf('run', 'echo')).toEqual(['run']);
    expect(filesOf('token', 'fan-1')).toEqual(['api']);
    expect(filesOf('audit')).toEqual(['codes']);
  });

  it('imports every file for the help, no command or a command no file lists', () => {
    const all = COMMANDS.map(([names]) => names[0]);
    expect(filesOf()).toEqual(all);
    expect(filesOf('--help')).toEqual(all);
    expect(filesOf('no-such-command')).toEqual(all);
  });

  it('lists exactly the top-level commands each file registers', async () => {
    const seen = new Set<string>();
    for (const [names, load] of COMMANDS) {
      const program = new Command('regflow');
      (await load())(program);
      const registered = program.commands.map((c) => c.name());
      expect(registered.sort(), `the file of '${names[0]}'`).toEqual([...names].sort());
      for (const n of registered) {
        expect(seen.has(n), `'${n}' registered by two files`).toBe(false);
        seen.add(n);
      }
    }
  });
});

describe('npm start components', () => {
  it('run every processor of processors/index.ts and the schedulers in the processors process', () => {
    const components = pipelineComponents(loadConfig());
    expect(components.map((c) => c.name)).toEqual(['processors', 'api', 'connector']);
    const args = components[0]!.args;
    const after = args.slice(args.indexOf('run') + 1);
    expect(after.filter((a) => a.startsWith('--'))).toEqual(['--with-schedulers']);
    expect(after.filter((a) => !a.startsWith('--')).sort()).toEqual(Object.keys(PROCESSORS).sort());
  });
});
