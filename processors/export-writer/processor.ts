import type { ResourceMap } from '../../runtime/resources.ts';
import type { ProcessorDefinition } from '../../runtime/types.ts';
import type { ExportRequest } from '../../schemas/types.generated.ts';
import {
  clockResource,
  crmBucket,
  notificationCampaigns,
  notificationState,
  winnerQueries,
} from '../../stores/notification-resources.ts';
import { processorSpec } from '../../topology/index.ts';
import type { ProcessorSpec } from '../../topology/types.ts';
import { type ExportWriterResources, exportWriterHandler } from './handler.ts';

// Wiring: export requests in, the CSV to the CRM bucket (S3), the campaign's dates updated.

export const EXPORT_WRITER = 'export-writer';

export function exportWriterProcessor(
  options: { spec?: ProcessorSpec; resources?: Partial<ResourceMap<ExportWriterResources>> } = {},
): ProcessorDefinition<ExportRequest, ExportWriterResources> {
  const spec = options.spec ?? processorSpec(EXPORT_WRITER);
  return {
    spec,
    resources: {
      campaigns: notificationCampaigns,
      state: notificationState,
      winners: winnerQueries,
      bucket: crmBucket,
      clock: clockResource(),
      ...options.resources,
    },
    handler: exportWriterHandler(),
    outputSchemas: {},
  };
}
