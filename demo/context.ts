import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import type { Admin, Kafka } from 'kafkajs';
import type { Db } from 'mongodb';
import type { Config } from '../config/index.ts';
import type { Codec } from '../runtime/codec.ts';
import type { ApiClient } from './api-client.ts';
import type { DemoOptions } from './options.ts';
import type { DemoPipeline } from './pipeline.ts';
import type { Report } from './report.ts';

// What every scenario of the demo works with: the config, the run's id, the options, the report,
// the API client, clients of the services, and the pipeline (the notification stage starts its
// processes through it).

export interface DemoContext {
  config: Readonly<Config>;
  runId: string;
  options: DemoOptions;
  report: Report;
  api: ApiClient;
  kafka: Kafka;
  admin: Admin;
  codec: Codec;
  db: Db;
  dynamo: DynamoDBClient;
  s3: S3Client;
  redis: Redis;
  pipeline: DemoPipeline;
  /** Commands and places the summary points to. */
  whereToLook: string[];
  /** Extra lines for the summary. */
  notes: string[];
}

export interface UntilOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Shown while waiting. */
  progress?: (status: string) => void;
}

/**
 * Polls `check` until it reports done; its status line is shown as progress and, on a timeout,
 * named in the error.
 */
export async function until(
  what: string,
  check: () => Promise<{ done: boolean; status: string }>,
  opts: UntilOptions,
): Promise<string> {
  const deadline = Date.now() + opts.timeoutMs;
  let status = 'not checked yet';
  for (;;) {
    const r = await check();
    status = r.status;
    opts.progress?.(status);
    if (r.done) return status;
    if (Date.now() >= deadline)
      throw new Error(
        `timed out after ${Math.round(opts.timeoutMs / 1000)} s waiting for ${what} (${status})`,
      );
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 1_000));
  }
}
