import { loadConfig } from '../config/index.ts';
import type { AnyProcessorDefinition } from '../runtime/types.ts';
import { ANALYTICS_ROUTER, analyticsRouterProcessor } from './analytics-router/processor.ts';
import { CODE_MARKER, codeMarkerProcessor } from './code-marker/processor.ts';
import { ECHO, echoProcessor } from './echo/processor.ts';
import { ENTRY_FILTER, entryFilterProcessor } from './entry-filter/processor.ts';
import { ENTRY_REPLICATOR, entryReplicatorProcessor } from './entry-replicator/processor.ts';
import { EXPORT_WRITER, exportWriterProcessor } from './export-writer/processor.ts';
import {
  NOTIFICATION_GENERATOR,
  notificationGeneratorProcessor,
} from './notification-generator/processor.ts';
import { SAMPLE_STORE, sampleStoreProcessor } from './sample-store/processor.ts';
import { SCHEDULER_JOBS, schedulerJobsProcessor } from './scheduler-jobs/processor.ts';
import { SELECTION_PLANNER, selectionPlannerProcessor } from './selection-planner/processor.ts';
import { SELECTION_SAVER, selectionSaverProcessor } from './selection-saver/processor.ts';
import { USER_UPSERTER, userUpserterProcessor } from './user-upserter/processor.ts';
import { VERDICT_REPORTER, verdictReporterProcessor } from './verdict-reporter/processor.ts';

// Every runnable processor by name (= its consumer group id in topology/index.ts).

export const PROCESSORS: Readonly<Record<string, () => AnyProcessorDefinition>> = {
  [ECHO]: () => echoProcessor(),
  [SAMPLE_STORE]: () => sampleStoreProcessor(),
  [ANALYTICS_ROUTER]: () => analyticsRouterProcessor(),
  [SCHEDULER_JOBS]: () => schedulerJobsProcessor(),
  [NOTIFICATION_GENERATOR]: () => notificationGeneratorProcessor(),
  [EXPORT_WRITER]: () => exportWriterProcessor(),
  [ENTRY_FILTER]: () => entryFilterProcessor(),
  [ENTRY_REPLICATOR]: () => entryReplicatorProcessor(),
  [USER_UPSERTER]: () => userUpserterProcessor(),
  [SELECTION_PLANNER]: () =>
    selectionPlannerProcessor(undefined, { minReserve: loadConfig().selection.minReserve }),
  [SELECTION_SAVER]: () => selectionSaverProcessor(),
  [CODE_MARKER]: () => codeMarkerProcessor(),
  [VERDICT_REPORTER]: () => verdictReporterProcessor(),
};
