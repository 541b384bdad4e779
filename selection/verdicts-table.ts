import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mapLimit } from '../stores/codes.ts';
import { entryKey } from '../stores/demand-table.ts';

// Verdicts on the fan's entry item in the demand-table, one map attribute per market:
//   `selection#<marketId>` = { verdict: BOOL, code?: S, runId: S, decidedAt: S }
// so the fan reads them with their entry (GET /v1/campaigns/:c/entries/:fan) and the stream carries
// them to code-marker. Conditional writes make a replay a no-op and never move a verdict backwards:
//   - a winner is written when the market has no verdict, or another run's loser verdict (a second wave);
//   - a loser is written when the market has no verdict;
//   - anything already written by this run is left as it is (a replay writes nothing, so the
//     stream carries no new change either);
//   - nothing is written on an item that does not exist (a withdrawn entry gets no ghost item).

export const verdictAttribute = (marketId: string) => `selection#${marketId}`;

export interface EntryVerdict {
  verdict: boolean;
  code?: string;
  runId: string;
  decidedAt: string;
}

export type VerdictWriteOutcome = 'written' | 'unchanged';

export interface WriteOptions {
  /** Requests in flight (16). */
  concurrency?: number;
  /** Called after each write: the saver's heartbeat (throttled by the runtime). */
  onProgress?: () => unknown;
}

export class VerdictsTable {
  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {}

  async writeVerdict(
    campaignId: string,
    marketId: string,
    globalUserId: string,
    runId: string,
    code: string | undefined,
    decidedAt: string,
  ): Promise<VerdictWriteOutcome> {
    const won = code !== undefined;
    const value: Record<string, AttributeValue> = {
      verdict: { BOOL: won },
      runId: { S: runId },
      decidedAt: { S: decidedAt },
    };
    if (won) value.code = { S: code };
    const key = entryKey(globalUserId, campaignId);
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { PK: { S: key.PK }, SK: { S: key.SK } },
          UpdateExpression: 'SET #s = :v',
          ConditionExpression: won
            ? 'attribute_exists(PK) AND (attribute_not_exists(#s) OR (#s.verdict = :false AND #s.runId <> :run))'
            : 'attribute_exists(PK) AND attribute_not_exists(#s)',
          ExpressionAttributeNames: { '#s': verdictAttribute(marketId) },
          ExpressionAttributeValues: {
            ':v': { M: value },
            ...(won ? { ':false': { BOOL: false }, ':run': { S: runId } } : {}),
          },
        }),
      );
      return 'written';
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return 'unchanged';
      throw err;
    }
  }

  /** Writes a batch's verdicts with at most `concurrency` requests in flight. */
  async writeVerdicts(
    campaignId: string,
    marketId: string,
    runId: string,
    winners: ReadonlyArray<{ globalUserId: string; code: string }>,
    losers: readonly string[],
    decidedAt: string,
    options: WriteOptions = {},
  ): Promise<{ written: number; unchanged: number }> {
    const work: Array<{ globalUserId: string; code?: string }> = [
      ...winners,
      ...losers.map((globalUserId) => ({ globalUserId })),
    ];
    const { concurrency = 16, onProgress } = options;
    const outcomes = await mapLimit(work, concurrency, async (w) => {
      const outcome = await this.writeVerdict(campaignId, marketId, w.globalUserId, runId, w.code, decidedAt);
      await onProgress?.();
      return outcome;
    });
    const written = outcomes.filter((o) => o === 'written').length;
    return { written, unchanged: outcomes.length - written };
  }
}

/** The verdicts of an entry item (plain JS, as the stream's images and getEntry give it), by market. */
export function verdictsOf(item: Record<string, unknown> | null | undefined): Map<string, EntryVerdict> {
  const out = new Map<string, EntryVerdict>();
  if (!item) return out;
  for (const [k, v] of Object.entries(item)) {
    if (!k.startsWith('selection#') || !v || typeof v !== 'object') continue;
    const e = v as Partial<EntryVerdict>;
    if (typeof e.verdict !== 'boolean' || typeof e.runId !== 'string') continue;
    out.set(k.slice('selection#'.length), e as EntryVerdict);
  }
  return out;
}
