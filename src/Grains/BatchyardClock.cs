namespace Batchyard;

/// <summary>
/// The DI key of the <see cref="TimeProvider"/> the grains schedule with. It is separate from the one Orleans
/// itself runs on, so that tests can move Batchyard's clock by months without expiring Orleans' messages.
/// </summary>
public static class BatchyardClock
{
    public const string Key = "batchyard";
}
