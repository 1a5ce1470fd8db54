namespace Batchyard.Costs;

/// <summary>
/// The names of the facts a backend reports in <see cref="Backends.JobStatus.Details"/> for its job's cost, so
/// that the cost is worked out in one place (<see cref="AttemptCosts"/>) whatever the backend.
/// </summary>
public static class CostFacts
{
    /// <summary>How the job is billed: <see cref="Instance"/>, <see cref="Local"/> or <see cref="None"/>. Without it an attempt has no cost.</summary>
    public const string Billing = "billing";

    /// <summary>Billed per instance-second (SageMaker): <see cref="InstanceType"/>, <see cref="InstanceCount"/>, <see cref="Region"/>.</summary>
    public const string Instance = "instance";

    /// <summary>Measured on this host: <see cref="CpuSeconds"/> and <see cref="MemoryPeakBytes"/> over the job's wall time.</summary>
    public const string Local = "local";

    /// <summary>Nothing runs behind the job (noop).</summary>
    public const string None = "none";

    public const string InstanceType = "instanceType";
    public const string InstanceCount = "instanceCount";
    public const string Region = "region";

    /// <summary>Training: seconds billed per instance (less than the training time with managed spot).</summary>
    public const string BillableSeconds = "billableSeconds";

    /// <summary>Training: seconds the job trained, per instance.</summary>
    public const string TrainingSeconds = "trainingSeconds";

    /// <summary>Training: seconds a warm pool kept the instances after the job, billed per instance.</summary>
    public const string WarmPoolSeconds = "warmPoolBillableSeconds";

    /// <summary>Local: cpu time the job's cgroup used, in seconds.</summary>
    public const string CpuSeconds = "cpuSeconds";

    /// <summary>Local: the job's cgroup's memory high-water mark, in bytes.</summary>
    public const string MemoryPeakBytes = "memoryPeakBytes";
}
