// Drives the emulator's task-output surfaces with the official AWS SDK for JavaScript v3 clients: S3
// CreateBucket, PutObject and GetObject (path-style), S3's NoSuchKey / NoSuchBucket errors, and a completed
// training job's FinalMetricDataList. Endpoint and credentials come from the environment, as in fidelity.mjs.
// Prints one JSON line.
import { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { SageMakerClient, CreateTrainingJobCommand, DescribeTrainingJobCommand } from "@aws-sdk/client-sagemaker";

const name = process.argv[2];
const bucket = "outputs-" + name;
const key = "eval/run 1/metrics+é.json";
const s3 = new S3Client({ forcePathStyle: true, maxAttempts: 5 });
const sm = new SageMakerClient({ maxAttempts: 5 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const errorName = async (send) => { try { await send(); return ""; } catch (e) { return e.name; } };

await s3.send(new CreateBucketCommand({ Bucket: bucket }));
const body = JSON.stringify({ auc: 0.91, shards: ["a", "b"] });
const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(body), ContentType: "application/json" }));
const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
const text = await got.Body.transformToString();
const missingKey = await errorName(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: "nope.json" })));
const missingBucket = await errorName(() => s3.send(new GetObjectCommand({ Bucket: bucket + "-nope", Key: key })));

await sm.send(new CreateTrainingJobCommand({
  TrainingJobName: name,
  RoleArn: "arn:aws:iam::123456789012:role/fidelity",
  AlgorithmSpecification: { TrainingImage: "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", TrainingInputMode: "File" },
  OutputDataConfig: { S3OutputPath: "s3://" + bucket + "/models/" },
  ResourceConfig: { InstanceCount: 1, InstanceType: "ml.m5.large", VolumeSizeInGB: 30 },
  StoppingCondition: { MaxRuntimeInSeconds: 3600 },
  Environment: { BATCHYARD_EMULATOR: "queued=50ms;run=200ms;lines=1;metrics=validation:auc:0.91,train:loss:0.25,train:grad:NaN" },
}));
let training;
for (let i = 0; i < 100; i++) {
  training = await sm.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
  if (training.TrainingJobStatus === "Completed") break;
  await sleep(100);
}
const metrics = training.FinalMetricDataList ?? [];
console.log(JSON.stringify({
  etag: put.ETag ?? null,
  text,
  contentType: got.ContentType ?? null,
  contentLength: got.ContentLength ?? null,
  lastModifiedIsDate: got.LastModified instanceof Date,
  missingKey,
  missingBucket,
  trainingStatus: training.TrainingJobStatus,
  metrics: Object.fromEntries(metrics.filter((m) => !Number.isNaN(m.Value)).map((m) => [m.MetricName, m.Value])),
  gradIsNaN: metrics.some((m) => m.MetricName === "train:grad" && Number.isNaN(m.Value)),
  metricValueIsNumber: metrics.every((m) => typeof m.Value === "number"),
  metricTimestampIsDate: metrics.every((m) => m.Timestamp instanceof Date),
}));
