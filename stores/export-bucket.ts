import {
  BucketAlreadyOwnedByYou,
  CreateBucketCommand,
  HeadObjectCommand,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

// The CRM team's bucket (the spec's Exports Service target), through the S3 API. An export's key
// and content are deterministic; the writer never overwrites an object already at its key, so a
// rerun after a crash between the upload and the campaign update leaves the one, same object.

export interface StoredExport {
  sha256?: string;
}

export interface ExportBucket {
  readonly name: string;
  ensure(): Promise<void>;
  head(key: string): Promise<StoredExport | undefined>;
  put(key: string, body: string, sha256: string): Promise<void>;
}

export class S3ExportBucket implements ExportBucket {
  private ensured = false;
  constructor(
    private readonly client: S3Client,
    readonly name: string,
  ) {}

  async ensure(): Promise<void> {
    if (this.ensured) return;
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.name }));
    } catch (err) {
      const name = (err as Error).name;
      if (
        !(err instanceof BucketAlreadyOwnedByYou) &&
        name !== 'BucketAlreadyExists' &&
        name !== 'BucketAlreadyOwnedByYou'
      )
        throw err;
    }
    this.ensured = true;
  }

  async head(key: string): Promise<StoredExport | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
      return { ...(out.Metadata?.sha256 ? { sha256: out.Metadata.sha256 } : {}) };
    } catch (err) {
      if (
        err instanceof NotFound ||
        (err as Error).name === 'NotFound' ||
        (err as Error).name === 'NoSuchKey'
      )
        return undefined;
      throw err;
    }
  }

  async put(key: string, body: string, sha256: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.name,
        Key: key,
        Body: body,
        ContentType: 'text/csv; charset=utf-8',
        Metadata: { sha256 },
      }),
    );
  }
}

export class MemoryExportBucket implements ExportBucket {
  readonly objects = new Map<string, { body: string; sha256: string }>();
  puts = 0;
  constructor(readonly name = 'memory-bucket') {}
  async ensure() {}
  async head(key: string) {
    const o = this.objects.get(key);
    return o ? { sha256: o.sha256 } : undefined;
  }
  async put(key: string, body: string, sha256: string) {
    this.puts++;
    this.objects.set(key, { body, sha256 });
  }
}
