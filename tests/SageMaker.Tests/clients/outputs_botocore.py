"""Drives the emulator's task-output surfaces with botocore: S3 CreateBucket, PutObject and GetObject
(path-style), S3's NoSuchKey / NoSuchBucket errors, and a completed training job's FinalMetricDataList.
Prints one JSON line."""
import datetime
import json
import sys
import time

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

name = sys.argv[1]
bucket = "outputs-" + name
key = "eval/run 1/metrics+é.json"
session = botocore.session.get_session()
s3 = session.create_client("s3", config=Config(s3={"addressing_style": "path"}))
sm = session.create_client("sagemaker")


def error_code(call):
    try:
        call()
        return ""
    except ClientError as e:
        return e.response["Error"]["Code"]


s3.create_bucket(Bucket=bucket)
body = json.dumps({"auc": 0.91, "shards": ["a", "b"]}).encode()
put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
got = s3.get_object(Bucket=bucket, Key=key)
text = got["Body"].read().decode()
missing_key = error_code(lambda: s3.get_object(Bucket=bucket, Key="nope.json"))
missing_bucket = error_code(lambda: s3.get_object(Bucket=bucket + "-nope", Key=key))

sm.create_training_job(
    TrainingJobName=name,
    RoleArn="arn:aws:iam::123456789012:role/fidelity",
    AlgorithmSpecification={"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", "TrainingInputMode": "File"},
    OutputDataConfig={"S3OutputPath": "s3://" + bucket + "/models/"},
    ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30},
    StoppingCondition={"MaxRuntimeInSeconds": 3600},
    Environment={"BATCHYARD_EMULATOR": "queued=50ms;run=200ms;lines=1;metrics=validation:auc:0.91,train:loss:NaN"},
)
for _ in range(100):
    training = sm.describe_training_job(TrainingJobName=name)
    if training["TrainingJobStatus"] == "Completed":
        break
    time.sleep(0.1)
metrics = training.get("FinalMetricDataList", [])
print(json.dumps({
    "etag": put.get("ETag"),
    "text": text,
    "contentType": got.get("ContentType"),
    "contentLength": got.get("ContentLength"),
    "lastModifiedIsDatetime": isinstance(got.get("LastModified"), datetime.datetime),
    "missingKey": missing_key,
    "missingBucket": missing_bucket,
    "trainingStatus": training["TrainingJobStatus"],
    "auc": next((m["Value"] for m in metrics if m["MetricName"] == "validation:auc"), None),
    # botocore hands a JSON 1.1 float that JSON cannot hold on as the string it came as.
    "loss": str(next((m["Value"] for m in metrics if m["MetricName"] == "train:loss"), None)),
    "metricTimestampIsDatetime": all(isinstance(m.get("Timestamp"), datetime.datetime) for m in metrics),
}))
