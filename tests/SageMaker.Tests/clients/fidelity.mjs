// Drives the SageMaker emulator with the official AWS SDK for JavaScript v3 clients:
// create, describe, list, stop and read logs. Endpoint and credentials come from the environment
// (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION). Prints one JSON line.
import { SageMakerClient, CreateProcessingJobCommand, DescribeProcessingJobCommand, ListProcessingJobsCommand, StopProcessingJobCommand } from "@aws-sdk/client-sagemaker";
import { CloudWatchLogsClient, DescribeLogStreamsCommand, GetLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";

const name = process.argv[2];
const sm = new SageMakerClient({ maxAttempts: 5 });
const logs = new CloudWatchLogsClient({ maxAttempts: 5 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const created = await sm.send(new CreateProcessingJobCommand({
  ProcessingJobName: name,
  RoleArn: "arn:aws:iam::123456789012:role/fidelity",
  AppSpecification: { ImageUri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", ContainerEntrypoint: ["python", "m.py"] },
  ProcessingResources: { ClusterConfig: { InstanceCount: 1, InstanceType: "ml.m5.large", VolumeSizeInGB: 30 } },
  StoppingCondition: { MaxRuntimeInSeconds: 3600 },
  Environment: { BATCHYARD_EMULATOR: "queued=50ms;run=30s;lines=300" },
}));
let described;
for (let i = 0; i < 100; i++) {
  described = await sm.send(new DescribeProcessingJobCommand({ ProcessingJobName: name }));
  if (described.ProcessingStartTime) break;
  await sleep(100);
}
const listed = await sm.send(new ListProcessingJobsCommand({ NameContains: name }));
let streams = { logStreams: [] };
for (let i = 0; i < 100 && streams.logStreams.length === 0; i++) {
  try { streams = await logs.send(new DescribeLogStreamsCommand({ logGroupName: "/aws/sagemaker/ProcessingJobs", logStreamNamePrefix: name + "/" })); }
  catch (e) { if (e.name !== "ResourceNotFoundException") throw e; }
  if (streams.logStreams.length === 0) await sleep(100);
}
const events = await logs.send(new GetLogEventsCommand({ logGroupName: "/aws/sagemaker/ProcessingJobs", logStreamName: streams.logStreams[0].logStreamName, startFromHead: true }));
await sm.send(new StopProcessingJobCommand({ ProcessingJobName: name }));
let final;
for (let i = 0; i < 100; i++) {
  final = await sm.send(new DescribeProcessingJobCommand({ ProcessingJobName: name }));
  if (final.ProcessingJobStatus === "Stopped") break;
  await sleep(100);
}
let missing = "";
try { await sm.send(new DescribeProcessingJobCommand({ ProcessingJobName: name + "-nope" })); }
catch (e) { missing = e.name; }
let duplicate = "";
try {
  await sm.send(new CreateProcessingJobCommand({
    ProcessingJobName: name, RoleArn: "arn:aws:iam::123456789012:role/fidelity",
    AppSpecification: { ImageUri: "x" },
    ProcessingResources: { ClusterConfig: { InstanceCount: 1, InstanceType: "ml.m5.large", VolumeSizeInGB: 30 } },
  }));
} catch (e) { duplicate = e.name; }
console.log(JSON.stringify({
  arn: created.ProcessingJobArn,
  startedIsDate: described.ProcessingStartTime instanceof Date,
  listed: listed.ProcessingJobSummaries.map((s) => s.ProcessingJobName),
  streams: streams.logStreams.length,
  firstEvent: events.events[0]?.message ?? null,
  eventTimestampIsNumber: typeof events.events[0]?.timestamp === "number",
  finalStatus: final.ProcessingJobStatus,
  missing,
  duplicate,
}));
