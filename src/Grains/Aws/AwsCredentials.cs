using Amazon.Runtime.Credentials;

namespace Batchyard.Aws;

/// <summary>One set of resolved AWS credentials; <see cref="SessionToken"/> is set for temporary ones.</summary>
public sealed record AwsCredentials(string AccessKeyId, string SecretAccessKey, string? SessionToken = null)
{
    /// <summary>Keeps the secret out of logs and exception messages.</summary>
    public override string ToString() => $"AwsCredentials {{ AccessKeyId = {AccessKeyId} }}";
}

/// <summary>Where the wire client gets credentials from at each request (they may rotate).</summary>
public interface IAwsCredentialSource
{
    ValueTask<AwsCredentials> GetAsync(CancellationToken cancellationToken);
}

/// <summary>Fixed credentials, for the emulator and tests.</summary>
public sealed class StaticAwsCredentialSource(AwsCredentials credentials) : IAwsCredentialSource
{
    public ValueTask<AwsCredentials> GetAsync(CancellationToken cancellationToken) => ValueTask.FromResult(credentials);
}

/// <summary>
/// The AWS SDK's default chain (environment, profile, web identity, container, instance role), which also
/// refreshes temporary credentials before they expire.
/// </summary>
public sealed class SdkAwsCredentialSource : IAwsCredentialSource
{
    private readonly Lazy<Amazon.Runtime.AWSCredentials> _chain = new(() => DefaultAWSCredentialsIdentityResolver.GetCredentials());

    public async ValueTask<AwsCredentials> GetAsync(CancellationToken cancellationToken)
    {
        var resolved = await _chain.Value.GetCredentialsAsync().ConfigureAwait(false);
        return new AwsCredentials(resolved.AccessKey, resolved.SecretKey, resolved.UseToken ? resolved.Token : null);
    }
}
