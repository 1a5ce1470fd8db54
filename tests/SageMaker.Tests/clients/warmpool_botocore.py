"""Drives the emulator's warm pools with botocore: a training job with a keep-alive leaves a pool that a matching
job reuses (the first job's WarmPoolStatus turns Reused, naming the second, with the retained billable seconds),
and the second job's pool is Terminated with its keep-alive billed once it lapses. Prints one JSON line."""
import json
import sys
import time

import botocore.session

name = sys.argv[1]
sm = botocore.session.get_session().create_client("sagemaker")


def create(job, keep_alive_script):
    sm.create_training_job(
        TrainingJobName=job,
        RoleArn="arn:aws:iam::123456789012:role/fidelity",
        AlgorithmSpecification={"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://bucket/models/"},
        ResourceConfig={"InstanceCount": 2, "InstanceType": "ml.g5.xlarge", "VolumeSizeInGB": 30, "KeepAlivePeriodInSeconds": 600},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Environment={"BATCHYARD_EMULATOR": "queued=300ms;run=200ms;lines=1;" + keep_alive_script},
    )


def wait(job, done, seconds=20):
    deadline = time.time() + seconds
    while True:
        answer = sm.describe_training_job(TrainingJobName=job)
        if done(answer) or time.time() > deadline:
            return answer
        time.sleep(0.1)


first, second = name + "-1", name + "-2"
create(first, "keepalive=30s")
ended = wait(first, lambda a: a["TrainingJobStatus"] == "Completed")
available = ended.get("WarmPoolStatus", {}).get("Status")
time.sleep(1.0)
create(second, "keepalive=1s")
reused = wait(first, lambda a: a.get("WarmPoolStatus", {}).get("Status") == "Reused")
second_running = sm.describe_training_job(TrainingJobName=second)
lapsed = wait(second, lambda a: a.get("WarmPoolStatus", {}).get("Status") == "Terminated")
print(json.dumps({
    "available": available,
    "reused": reused["WarmPoolStatus"].get("Status"),
    "reusedBy": reused["WarmPoolStatus"].get("ReusedByJob"),
    "reusedRetained": reused["WarmPoolStatus"].get("ResourceRetainedBillableTimeInSeconds"),
    "secondStartedWarm": second_running.get("SecondaryStatus"),
    "secondPool": lapsed.get("WarmPoolStatus", {}).get("Status"),
    "secondRetained": lapsed.get("WarmPoolStatus", {}).get("ResourceRetainedBillableTimeInSeconds"),
}))
