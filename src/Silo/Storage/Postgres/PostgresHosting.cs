using System.Data.Common;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;

namespace Batchyard.Silo.Storage.Postgres;

/// <summary>Wires Orleans' ADO.NET clustering, reminders and grain storage to Batchyard's PostgreSQL schema.</summary>
public static class PostgresHosting
{
    /// <summary>The ADO.NET invariant name the Orleans providers use to find Npgsql.</summary>
    public const string Invariant = "Npgsql";

    /// <summary>
    /// Registers Npgsql under <see cref="Invariant"/>: the Orleans providers look the factory up by invariant
    /// name in <see cref="DbProviderFactories"/>, which starts empty on .NET (Core). Idempotent.
    /// </summary>
    public static void RegisterProviderFactory() => DbProviderFactories.RegisterFactory(Invariant, NpgsqlFactory.Instance);

    /// <summary>
    /// Uses PostgreSQL for cluster membership, reminders and grain state (default storage and every name in
    /// <paramref name="grainStorageNames"/>). The schema must already be applied (<see cref="PostgresSchema"/>).
    /// </summary>
    public static ISiloBuilder UseBatchyardPostgres(this ISiloBuilder builder, string connectionString, params string[] grainStorageNames)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(grainStorageNames);
        RegisterProviderFactory();
        builder.UseAdoNetClustering(options =>
        {
            options.Invariant = Invariant;
            options.ConnectionString = connectionString;
        });
        builder.UseAdoNetReminderService(options =>
        {
            options.Invariant = Invariant;
            options.ConnectionString = connectionString;
        });
        builder.AddAdoNetGrainStorageAsDefault(options => ConfigureStorage(options, connectionString));
        foreach (var name in grainStorageNames)
        {
            builder.AddAdoNetGrainStorage(name, options => ConfigureStorage(options, connectionString));
        }

        return builder;
    }

    /// <summary>Lets an Orleans client (the dashboard) find gateways through the membership table.</summary>
    public static IClientBuilder UseBatchyardPostgres(this IClientBuilder builder, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(builder);
        RegisterProviderFactory();
        return builder.UseAdoNetClustering(options =>
        {
            options.Invariant = Invariant;
            options.ConnectionString = connectionString;
        });
    }

    private static void ConfigureStorage(OptionsBuilder<AdoNetGrainStorageOptions> options, string connectionString) =>
        options.Configure<Serializer>((o, serializer) =>
        {
            o.Invariant = Invariant;
            o.ConnectionString = connectionString;
            // Orleans' own (binary, version-tolerant) format: the provider's default, Newtonsoft JSON with
            // reference preservation, cannot read back the immutable collections the grain states hold.
            o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
        });
}
