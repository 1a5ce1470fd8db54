using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Batchyard.Aws;

namespace Batchyard.SageMakerEmulator;

/// <summary>One stored object; <see cref="Checksums"/> are the <c>x-amz-checksum-*</c> headers it was put with.</summary>
public sealed record S3Object(byte[] Body, string ContentType, string ETag, DateTimeOffset LastModified, IReadOnlyDictionary<string, string> Checksums);

/// <summary>
/// The emulator's S3: buckets and their objects, put over the wire (CreateBucket, PutObject), by tests in-process
/// (<see cref="Write"/>), or by a job whose script names an output, which appears when the job completes.
/// </summary>
public sealed class S3Store(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, S3Object>> _buckets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<EmulatedJob, S3Location> _writers = new();

    /// <summary>Makes the bucket; true when it is new.</summary>
    public bool CreateBucket(string bucket) => _buckets.TryAdd(bucket, new(StringComparer.Ordinal));

    public bool BucketExists(string bucket) => _buckets.ContainsKey(bucket);

    /// <summary>PutObject: false when the bucket does not exist.</summary>
    public bool TryPut(string bucket, string key, byte[] body, string? contentType, IReadOnlyDictionary<string, string>? checksums, out S3Object stored)
    {
        stored = new S3Object(body, contentType ?? "binary/octet-stream", ETagOf(body), time.GetUtcNow(), checksums ?? new Dictionary<string, string>());
        if (!_buckets.TryGetValue(bucket, out var objects))
        {
            return false;
        }
        objects[key] = stored;
        return true;
    }

    /// <summary>For tests: puts <paramref name="body"/> at <c>s3://bucket/key</c>, making the bucket if needed.</summary>
    public void Write(string bucket, string key, byte[] body, string contentType = "application/json")
    {
        CreateBucket(bucket);
        TryPut(bucket, key, body, contentType, null, out _);
    }

    public void Write(string bucket, string key, string body) => Write(bucket, key, Encoding.UTF8.GetBytes(body));

    /// <summary>The object as GetObject sees it now; <paramref name="bucketExists"/> tells NoSuchBucket from NoSuchKey.</summary>
    public S3Object? Find(string bucket, string key, out bool bucketExists)
    {
        Settle();
        bucketExists = _buckets.TryGetValue(bucket, out var objects);
        return objects is not null && objects.TryGetValue(key, out var found) ? found : null;
    }

    /// <summary>A job whose script names an output writes it when it completes (and never when it fails or is stopped).</summary>
    public void WriteWhenCompleted(EmulatedJob job, S3Location location) => _writers.TryAdd(job, location);

    /// <summary>Puts the outputs of the jobs that have completed by now, as they would have at their end.</summary>
    private void Settle()
    {
        var now = time.GetUtcNow();
        foreach (var job in _writers.Keys)
        {
            var view = job.ViewAt(now);
            if (view.EndedAt is null || !_writers.TryRemove(job, out var location) || view.Status != "Completed")
            {
                continue;
            }
            var body = Encoding.UTF8.GetBytes(job.Script.OutputBody);
            CreateBucket(location.Bucket);
            _buckets[location.Bucket][location.Key] = new S3Object(body, "application/json", ETagOf(body), view.EndedAt.Value, new Dictionary<string, string>());
        }
    }

    // S3's ETag of a single-part upload is the MD5 of the body; here it only has to look and behave like one.
#pragma warning disable CA5351
    private static string ETagOf(byte[] body) => $"\"{Convert.ToHexStringLower(MD5.HashData(body))}\"";
#pragma warning restore CA5351
}
