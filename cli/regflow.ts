import { Command } from 'commander';
import { describeError } from '../lib/errors.ts';
import { registerApi } from './api.ts';
import { registerCampaign } from './campaign.ts';
import { registerConnector } from './connector.ts';
import { registerDlq } from './dlq.ts';
import { registerPublishData } from './publish-data.ts';
import { registerReplay } from './replay.ts';
import { registerRun } from './run.ts';
import { registerSchedulers } from './schedulers.ts';
import { registerSelection } from './selection.ts';
import { registerStart } from './start.ts';
import { registerTail } from './tail.ts';
import { registerTopics } from './topics.ts';
import { registerTopology } from './topology.ts';

// `regflow`: the operator's CLI. One file per command; each registers itself on the program.

const program = new Command('regflow')
  .description('regflow: presale registration pipeline on Apache Kafka')
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(`regflow: ${str.replace(/^error: /, '')}`) });

registerStart(program);
registerRun(program);
registerTail(program);
registerReplay(program);
registerDlq(program);
registerTopology(program);
registerTopics(program);
registerCampaign(program);
registerApi(program);
registerConnector(program);
registerSchedulers(program);
registerPublishData(program);
registerSelection(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`regflow: ${describeError(err)}`);
  process.exit(1);
});
