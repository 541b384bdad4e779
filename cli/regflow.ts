import { Command } from 'commander';
import { describeError } from '../lib/errors.ts';
import { registerCommands } from './commands.ts';

// `regflow`: the operator's CLI. One file per command; each registers itself on the program. The
// files are listed in cli/commands.ts and only the running command's file is imported.

const program = new Command('regflow')
  .description('regflow: presale registration pipeline on Apache Kafka')
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(`regflow: ${str.replace(/^error: /, '')}`) });

registerCommands(program, process.argv)
  .then(() => program.parseAsync(process.argv))
  .catch((err: unknown) => {
    console.error(`regflow: ${describeError(err)}`);
    process.exit(1);
  });
