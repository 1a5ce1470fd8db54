namespace Batchyard.Backends.Local;

/// <summary>How a local job is told which GPUs are its own: the variables CUDA and the NVIDIA container runtime read.</summary>
public static class GpuEnvironment
{
    public const string CudaVisibleDevices = "CUDA_VISIBLE_DEVICES";
    public const string NvidiaVisibleDevices = "NVIDIA_VISIBLE_DEVICES";
    public const string CudaDeviceOrder = "CUDA_DEVICE_ORDER";

    /// <summary>
    /// Sets the job's GPUs, overriding whatever the task or the silo set: a job without GPUs on a GPU host sees
    /// none (an empty CUDA list, <c>none</c> for the container runtime), so it cannot use one another job holds.
    /// CUDA numbers devices fastest first unless told otherwise; PCI order makes the indexes match nvidia-smi's.
    /// </summary>
    public static void Apply(IDictionary<string, string?> environment, IReadOnlyCollection<string> gpus)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(gpus);
        environment[CudaVisibleDevices] = string.Join(",", gpus);
        environment[NvidiaVisibleDevices] = gpus.Count == 0 ? "none" : string.Join(",", gpus);
        if (!environment.TryGetValue(CudaDeviceOrder, out var order) || string.IsNullOrEmpty(order))
        {
            environment[CudaDeviceOrder] = "PCI_BUS_ID";
        }
    }
}
