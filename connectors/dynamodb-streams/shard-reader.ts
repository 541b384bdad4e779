import { setTimeout as sleep } from 'node:timers/promises';
import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { isRetriable, PermanentError, RetriableError } from '../../lib/errors.ts';
import { backoffDelay, createRetry, DEFAULT_RETRY, type RetryOptions } from '../../lib/retry.ts';
import { GapKind, type ShardDescription, type ShardGap, type StartPosition } from './shards.ts';
import type { StreamsApi } from './streams-api.ts';

// Reads a DynamoDB stream: finds the table's stream and its shards, and pages through one shard
// at a time from a start position. It keeps one iterator per shard and knows what each service
// error means:
// - ExpiredIteratorException (iterators live 15 minutes): ask for a new one from the position;
// - ProvisionedThroughputExceeded / LimitExceeded / Throttling: back off (lib/retry.ts), same call;
// - TrimmedDataAccessException: the records after our checkpoint are gone: a gap (never skipped);
// - ResourceNotFoundException: the stream (or table) is gone: the caller rediscovers the stream;
// - HTTP 5xx, connection refused: retried with backoff; the iterator is dropped, because the local
//   server answers a bad (e.g. pre-restart) iterator with HTTP 500 rather than a typed error.

const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

export const isThrottling = (err: unknown) => THROTTLING.has((err as { name?: string })?.name ?? '');
const named = (err: unknown, name: string) => (err as { name?: string })?.name === name;

/** Records after a checkpoint were trimmed (or a shard left the stream unread): the connector halts. */
export class GapError extends PermanentError {
  constructor(readonly gaps: readonly ShardGap[]) {
    super(
      `possible loss of change records, the connector stops until an operator accepts the gap ` +
        `(regflow connector reset --accept-gap): ${gaps.map((g) => `[${g.kind}] ${g.reason}`).join('; ')}`,
    );
  }
}

/** The table's stream is gone or was replaced: describe the table again. */
export class StreamGoneError extends RetriableError {}

export interface ReaderEvents {
  onIteratorExpired?: (shardId: string) => void;
  onThrottled?: (call: string, delayMs: number) => void;
  onRetry?: (call: string, error: unknown, delayMs: number) => void;
}

export interface StreamInfo {
  streamArn: string;
  shards: ShardDescription[];
}

export interface ShardRead {
  records: _Record[];
  /** True once a closed shard is read to its end. */
  ended: boolean;
}

interface ShardState {
  /** Where a new iterator starts: the committed position. */
  position: StartPosition;
  iterator: string | undefined;
  /** The iterator to use after a successful commit of the page just read. */
  pendingIterator: string | undefined;
  pendingEnded: boolean;
}

export interface ShardReaderOptions {
  table: string;
  /** Records per GetRecords call (DynamoDB's maximum is 1000). */
  pageSize?: number;
  retry?: Partial<RetryOptions>;
  events?: ReaderEvents;
}

export class ShardReader {
  private readonly shards = new Map<string, ShardState>();
  private stream: string | undefined;
  private readonly retry: ReturnType<typeof createRetry>;
  private readonly throttled: ReturnType<typeof createRetry>;
  private readonly retryOptions: RetryOptions;
  private readonly pageSize: number;

  constructor(
    private readonly api: StreamsApi,
    private readonly options: ShardReaderOptions,
  ) {
    this.pageSize = options.pageSize ?? 1000;
    this.retryOptions = { ...DEFAULT_RETRY, attempts: 8, maxDelayMs: 5_000, ...options.retry };
    this.retry = createRetry({
      ...this.retryOptions,
      shouldRetry: (err) => isThrottling(err) || (isRetriable(err) && !(err instanceof StreamGoneError)),
    });
    this.throttled = createRetry({ ...this.retryOptions, attempts: 20, shouldRetry: isThrottling });
  }

  get streamArn(): string | undefined {
    return this.stream;
  }

  /** DescribeTable, then every page of DescribeStream. A changed stream ARN drops every iterator. */
  async discover(): Promise<StreamInfo> {
    const { table } = this.options;
    const streamArn = await this.call('DescribeTable', async () => {
      try {
        return await this.api.latestStreamArn(table);
      } catch (err) {
        if (named(err, 'ResourceNotFoundException'))
          throw new StreamGoneError(`table ${table} does not exist (yet)`, { cause: err });
        throw err;
      }
    });
    if (streamArn === undefined) throw new StreamGoneError(`table ${table} has no stream enabled`);
    if (streamArn !== this.stream) {
      this.shards.clear();
      this.stream = streamArn;
    }
    const shards: ShardDescription[] = [];
    let after: string | undefined;
    do {
      const page = await this.call('DescribeStream', async () => {
        try {
          return await this.api.describeStream(streamArn, after);
        } catch (err) {
          if (named(err, 'ResourceNotFoundException')) {
            this.stream = undefined;
            throw new StreamGoneError(`stream ${streamArn} of table ${table} is gone`, { cause: err });
          }
          throw err;
        }
      });
      shards.push(...page.shards);
      after = page.lastEvaluatedShardId;
    } while (after !== undefined);
    return { streamArn, shards };
  }

  /** Reads shards from these positions from now on (positions of shards already open are kept). */
  assign(reads: readonly { shardId: string; start: StartPosition }[]): void {
    const wanted = new Set(reads.map((r) => r.shardId));
    for (const id of [...this.shards.keys()]) if (!wanted.has(id)) this.shards.delete(id);
    for (const r of reads) {
      if (!this.shards.has(r.shardId)) {
        this.shards.set(r.shardId, {
          position: r.start,
          iterator: undefined,
          pendingIterator: undefined,
          pendingEnded: false,
        });
      }
    }
  }

  assigned(): string[] {
    return [...this.shards.keys()];
  }

  /**
   * The next page of a shard. Nothing moves until `commit` says the page reached Kafka; after a
   * failed transaction `rewind` starts every shard again from its committed position.
   */
  async read(shardId: string): Promise<ShardRead> {
    const state = this.shards.get(shardId);
    const streamArn = this.stream;
    if (state === undefined || streamArn === undefined) throw new Error(`shard ${shardId} is not assigned`);
    let expiries = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        state.iterator ??= await this.iteratorFor(streamArn, shardId, state.position);
        const iterator = state.iterator;
        // Only throttling is retried with the same iterator; see the class comment for the rest.
        const { value: page } = await this.throttled(() => this.api.getRecords(iterator, this.pageSize), {
          onRetry: ({ delayMs }) => this.options.events?.onThrottled?.('GetRecords', delayMs),
        });
        state.pendingIterator = page.nextIterator;
        state.pendingEnded = page.nextIterator === undefined;
        return { records: page.records, ended: state.pendingEnded };
      } catch (err) {
        state.iterator = undefined;
        if (named(err, 'ExpiredIteratorException') && expiries++ < 3) {
          this.options.events?.onIteratorExpired?.(shardId);
          continue;
        }
        const retriable = isRetriable(err) && !(err instanceof StreamGoneError) && !(err instanceof GapError);
        if (retriable && attempt < this.retryOptions.attempts) {
          const delayMs = backoffDelay(this.retryOptions, attempt);
          this.options.events?.onRetry?.('GetRecords', err, delayMs);
          await sleep(delayMs);
          continue;
        }
        throw this.classify(err, streamArn, shardId, state.position);
      }
    }
  }

  /** The page read last from this shard is in Kafka: continue after it. */
  commit(shardId: string, lastSequenceNumber: string | undefined): void {
    const state = this.shards.get(shardId);
    if (state === undefined) return;
    if (lastSequenceNumber !== undefined)
      state.position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: lastSequenceNumber };
    if (state.pendingEnded) {
      this.shards.delete(shardId);
      return;
    }
    state.iterator = state.pendingIterator;
    state.pendingIterator = undefined;
  }

  /** The transaction failed: every shard starts again from its committed position. */
  rewind(): void {
    for (const state of this.shards.values()) {
      state.iterator = undefined;
      state.pendingIterator = undefined;
      state.pendingEnded = false;
    }
  }

  private async iteratorFor(streamArn: string, shardId: string, position: StartPosition): Promise<string> {
    try {
      return await this.call('GetShardIterator', () =>
        this.api.getShardIterator(streamArn, shardId, position),
      );
    } catch (err) {
      throw this.classify(err, streamArn, shardId, position);
    }
  }

  private classify(err: unknown, streamArn: string, shardId: string, position: StartPosition): unknown {
    if (named(err, 'TrimmedDataAccessException')) {
      const after = position.type === 'AFTER_SEQUENCE_NUMBER' ? position.sequenceNumber : 'TRIM_HORIZON';
      return new GapError([
        {
          kind: GapKind.TRIMMED,
          streamArn,
          shardId,
          reason: `records of shard ${shardId} after ${after} were trimmed before the connector read them (TrimmedDataAccessException)`,
        },
      ]);
    }
    if (named(err, 'ResourceNotFoundException')) {
      this.stream = undefined;
      return new StreamGoneError(`stream ${streamArn} or its shard ${shardId} is gone`, { cause: err });
    }
    if (named(err, 'ExpiredIteratorException'))
      return new RetriableError(`iterator of shard ${shardId} keeps expiring`, { cause: err });
    return err;
  }

  private async call<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const { value } = await this.retry(fn, {
      onRetry: ({ error, delayMs }) => {
        if (isThrottling(error)) this.options.events?.onThrottled?.(name, delayMs);
        else this.options.events?.onRetry?.(name, error, delayMs);
      },
    });
    return value;
  }
}
