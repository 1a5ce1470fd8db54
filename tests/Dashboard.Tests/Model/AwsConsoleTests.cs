using Batchyard.Dashboard.Model;

namespace Batchyard.Dashboard.Tests.Model;

public class AwsConsoleTests
{
    [Fact]
    public void JobLink_ProcessingJobArn_UsesTheArnsRegionAndName() =>
        Assert.Equal(
            "https://ap-northeast-1.console.aws.amazon.com/sagemaker/home?region=ap-northeast-1#/processing-jobs/by-daily-abc-extract-1",
            AwsConsole.JobLink("sagemaker", "arn:aws:sagemaker:ap-northeast-1:123456789012:processing-job/by-daily-abc-extract-1", "us-east-1")!.AbsoluteUri);

    [Fact]
    public void JobLink_TrainingJobName_UsesTheDefaultRegion() =>
        Assert.Equal(
            "https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/jobs/train-1",
            AwsConsole.JobLink("sagemaker-training", "train-1", "eu-west-1")!.AbsoluteUri);

    [Fact]
    public void JobLink_LocalJob_HasNone() => Assert.Null(AwsConsole.JobLink("local", "by-job-1", "us-east-1"));
}
