// The JavaScript SDK v3 against an endpoint: put/get/list/delete with the SDK's default
// checksums, a 50 MiB multipart `Upload` from a stream (lib-storage), path or virtual-hosted
// style. Settings from the environment (S3_ENDPOINT, S3_BUCKET, FORCE_PATH_STYLE,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). Prints one line per step; exits
// non-zero on the first failure.
const {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  DeleteBucketCommand,
} = require("@aws-sdk/client-s3");
const { Upload } = require("@aws-sdk/lib-storage");
const crypto = require("crypto");
const { Readable } = require("stream");

const md5 = (b) => crypto.createHash("md5").update(b).digest("hex");

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function bytesOf(body) {
  return Buffer.from(await body.transformToByteArray());
}

async function main() {
  const Bucket = process.env.S3_BUCKET;
  const s3 = new S3Client({
    endpoint: process.env.S3_ENDPOINT,
    region: process.env.AWS_REGION || "us-east-1",
    forcePathStyle: process.env.FORCE_PATH_STYLE === "true",
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID,
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
    },
  });
  const step = (name) => console.log(`ok ${name}`);

  await s3.send(new CreateBucketCommand({ Bucket }));
  step("create-bucket");

  const small = crypto.randomBytes(100_000);
  const put = await s3.send(new PutObjectCommand({ Bucket, Key: "dir/small.bin", Body: small, ContentType: "application/x-test", Metadata: { origin: "js" } }));
  check(put.ETag === `"${md5(small)}"`, `ETag ${put.ETag}`);
  check(put.ChecksumCRC32 || put.ChecksumCRC64NVME || put.ChecksumCRC32C, "a checksum echoed for the SDK's default checksum");
  step("put-object");

  const got = await s3.send(new GetObjectCommand({ Bucket, Key: "dir/small.bin", ChecksumMode: "ENABLED" }));
  check((await bytesOf(got.Body)).equals(small), "GET returns the bytes");
  check(got.ContentType === "application/x-test" && got.Metadata.origin === "js", "headers and metadata");
  const range = await s3.send(new GetObjectCommand({ Bucket, Key: "dir/small.bin", Range: "bytes=10-19" }));
  check((await bytesOf(range.Body)).equals(small.subarray(10, 20)), "ranged GET");
  step("get-object");

  for (let i = 0; i < 5; i++) {
    await s3.send(new PutObjectCommand({ Bucket, Key: `list/k${i}`, Body: `v${i}` }));
  }
  let keys = [];
  let token;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: "list/", MaxKeys: 2, ContinuationToken: token }));
    keys = keys.concat((page.Contents || []).map((o) => o.Key));
    token = page.NextContinuationToken;
  } while (token);
  check(JSON.stringify(keys) === JSON.stringify(["list/k0", "list/k1", "list/k2", "list/k3", "list/k4"]), `listing ${keys}`);
  const folders = await s3.send(new ListObjectsV2Command({ Bucket, Delimiter: "/" }));
  check((folders.CommonPrefixes || []).map((p) => p.Prefix).join(",") === "dir/,list/", "common prefixes");
  step("list-objects-v2");

  const partSize = 8 * 1024 * 1024;
  const big = crypto.randomBytes(50 * 1024 * 1024);
  const upload = new Upload({
    client: s3,
    params: { Bucket, Key: "big.bin", Body: Readable.from((function* () { for (let o = 0; o < big.length; o += 1 << 20) yield big.subarray(o, o + (1 << 20)); })()) },
    partSize,
    queueSize: 4,
  });
  await upload.done();
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: "big.bin" }));
  check(head.ContentLength === big.length, `size ${head.ContentLength}`);
  check(/-7"$/.test(head.ETag), `multipart ETag ${head.ETag}`);
  const back = await s3.send(new GetObjectCommand({ Bucket, Key: "big.bin" }));
  check(md5(await bytesOf(back.Body)) === md5(big), "the 50 MiB object reads back");
  step("multipart-upload");

  await s3.send(new DeleteObjectCommand({ Bucket, Key: "dir/small.bin" }));
  let missing = false;
  try {
    await s3.send(new HeadObjectCommand({ Bucket, Key: "dir/small.bin" }));
  } catch (e) {
    missing = e.$metadata && e.$metadata.httpStatusCode === 404;
  }
  check(missing, "deleted object is gone");
  const rest = await s3.send(new ListObjectsV2Command({ Bucket }));
  const del = await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: rest.Contents.map((o) => ({ Key: o.Key })) } }));
  check((del.Deleted || []).length === rest.Contents.length && !(del.Errors || []).length, "DeleteObjects");
  await s3.send(new DeleteBucketCommand({ Bucket }));
  step("delete");
}

main().catch((e) => {
  console.error(`FAILED: ${e.stack || e}`);
  process.exit(1);
});
