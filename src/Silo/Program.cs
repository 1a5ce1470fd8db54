using Batchyard.Silo.Hosting;

var app = BatchyardHost.Build(args);
await app.RunAsync();

/// <summary>The entry point, visible to tests that host the real application.</summary>
public partial class Program;
