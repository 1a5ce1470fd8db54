"""Drives the SageMaker emulator with botocore: create, describe, list, stop, read logs. Prints one JSON line."""
import datetime
import json
import sys
import time

import botocore.session
from botocore.exceptions import ClientError

name = sys.argv[1]
session = botocore.session.get_session()
sm = session.create_client("sagemaker")
logs = session.create_client("logs")

created = sm.create_processing_job(
    ProcessingJobName=name,
    RoleArn="arn:aws:iam::123456789012:role/fidelity",
    AppSpecification={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", "ContainerArguments": ["--a"]},
    ProcessingResources={"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}},
    StoppingCondition={"MaxRuntimeInSeconds": 3600},
    Environment={"BATCHYARD_EMULATOR": "queued=50ms;run=30s;lines=300"},
)
for _ in range(100):
    described = sm.describe_processing_job(ProcessingJobName=name)
    if "ProcessingStartTime" in described:
        break
    time.sleep(0.1)
listed = sm.list_processing_jobs(NameContains=name)
streams = []
for _ in range(100):
    try:
        streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs", logStreamNamePrefix=name + "/")["logStreams"]
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    if streams:
        break
    time.sleep(0.1)
page = logs.get_log_events(logGroupName="/aws/sagemaker/ProcessingJobs", logStreamName=streams[0]["logStreamName"], startFromHead=True)
again = logs.get_log_events(logGroupName="/aws/sagemaker/ProcessingJobs", logStreamName=streams[0]["logStreamName"], nextToken=page["nextForwardToken"])
sm.stop_processing_job(ProcessingJobName=name)
for _ in range(100):
    final = sm.describe_processing_job(ProcessingJobName=name)
    if final["ProcessingJobStatus"] == "Stopped":
        break
    time.sleep(0.1)
try:
    sm.describe_processing_job(ProcessingJobName=name + "-nope")
    missing = ""
except ClientError as e:
    missing = e.response["Error"]["Code"]
try:
    sm.create_processing_job(
        ProcessingJobName="bad_name!",
        RoleArn="arn:aws:iam::123456789012:role/fidelity",
        AppSpecification={"ImageUri": "x"},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}},
    )
    invalid = ""
except ClientError as e:
    invalid = e.response["Error"]["Code"]
print(json.dumps({
    "arn": created["ProcessingJobArn"],
    "startedIsDatetime": isinstance(described.get("ProcessingStartTime"), datetime.datetime),
    "listed": [s["ProcessingJobName"] for s in listed["ProcessingJobSummaries"]],
    "streams": len(streams),
    "firstEvent": page["events"][0]["message"] if page["events"] else None,
    "finalStatus": final["ProcessingJobStatus"],
    "missing": missing,
    "invalid": invalid,
}))
