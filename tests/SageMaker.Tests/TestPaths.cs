namespace Batchyard.SageMaker.Tests;

/// <summary>The repository root (where Orleans.sln is) and the AWS reference data in it.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    /// <summary><c>tests/reference</c>: the botocore model subsets and the SigV4 suite (see its README).</summary>
    public static string Reference { get; } = Batchyard.SageMakerEmulator.EmulatorSettings.FindReferenceFolder(RepoRoot);

    public static string Clients => Path.Combine(RepoRoot, "tests", "SageMaker.Tests", "clients");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orleans.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Orleans.sln not found above " + AppContext.BaseDirectory);
    }
}
