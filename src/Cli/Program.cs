using Batchyard.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // First Ctrl+C stops following (logs, --wait) cleanly; the run itself goes on on the server.
    e.Cancel = true;
    cancel.Cancel();
};
return await CliApp.RunAsync(args, Console.Out, Console.Error, Environment.GetEnvironmentVariable, cancel.Token);
