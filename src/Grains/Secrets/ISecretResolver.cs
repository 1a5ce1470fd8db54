using Microsoft.Extensions.Configuration;

namespace Batchyard.Secrets;

/// <summary>Gives the value of a named secret that a task's env refers to as <c>secret:NAME</c>.</summary>
public interface ISecretResolver
{
    /// <summary>The secret's value, or null when the server has no secret of that name.</summary>
    string? Resolve(string name);
}

/// <summary>Secrets from the server's configuration, <c>Batchyard:Secrets:NAME</c> (appsettings, <c>Batchyard__Secrets__NAME</c>, ...).</summary>
public sealed class ConfigurationSecretResolver(IConfiguration? configuration) : ISecretResolver
{
    public const string Section = "Batchyard:Secrets";

    public string? Resolve(string name) =>
        configuration?[$"{Section}:{name}"] is { Length: > 0 } value ? value : null;
}
