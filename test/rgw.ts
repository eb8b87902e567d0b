/**
 * A real S3 server for the tests: Ceph's RADOS Gateway started by scripts/rgw.sh. One already
 * running in the shared state dir (started by .ci/run or by hand) is reused and left running;
 * otherwise one is started in a private state dir and stopped by stop().
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { ROOT, run } from './helpers.ts';

export interface Rgw {
  readonly endpoint: string;
  /** AWS_* variables for a child process. */
  readonly env: Record<string, string>;
  readonly client: S3Client;
  /** A new, empty bucket. */
  bucket(): Promise<string>;
  /** Every key in a bucket with its ETag and modification time. */
  list(bucket: string): Promise<Map<string, { etag: string; modified: number }>>;
  stop(): Promise<void>;
}

function readEnv(state: string): Record<string, string> | null {
  const file = join(state, 'env');
  if (!existsSync(file)) return null;
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

export async function startRgw(): Promise<Rgw> {
  const shared = process.env.BINDERY_RGW_STATE ?? '/tmp/bindery-rgw';
  let state = shared;
  let owned = false;
  if ((await run('bash', [join(ROOT, 'scripts/rgw.sh'), 'status', shared])).code !== 0) {
    state = join(tmpdir(), `bindery-rgw-${randomBytes(4).toString('hex')}`);
    const r = await run('bash', [join(ROOT, 'scripts/rgw.sh'), 'start', state]);
    if (r.code !== 0) throw new Error(`cannot start the RADOS Gateway (apt-get install radosgw ceph-mon ceph-osd): ${r.stderr}`);
    owned = true;
  }
  const vars = readEnv(state)!;
  const endpoint = vars.BINDERY_S3_ENDPOINT!;
  const env = { AWS_ACCESS_KEY_ID: vars.AWS_ACCESS_KEY_ID!, AWS_SECRET_ACCESS_KEY: vars.AWS_SECRET_ACCESS_KEY!, AWS_REGION: vars.AWS_REGION!, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const client = new S3Client({ endpoint, forcePathStyle: true, region: env.AWS_REGION, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
  return {
    endpoint,
    env,
    client,
    async bucket() {
      const name = `bindery-${randomBytes(6).toString('hex')}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    async list(bucket) {
      const out = new Map<string, { etag: string; modified: number }>();
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
        for (const o of r.Contents ?? []) out.set(o.Key!, { etag: o.ETag!, modified: o.LastModified!.getTime() });
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async stop() {
      client.destroy();
      if (owned) await run('bash', [join(ROOT, 'scripts/rgw.sh'), 'stop', state]);
    },
  };
}
