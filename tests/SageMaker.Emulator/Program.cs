using Batchyard.SageMakerEmulator;

// Standalone: dotnet run --project tests/SageMaker.Emulator -- --urls http://127.0.0.1:PORT
var app = EmulatorApp.Build(args, EmulatorSettings.FromEnvironment());
await app.RunAsync();
