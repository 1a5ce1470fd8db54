using System.Collections.Concurrent;

namespace Batchyard.Dashboard.Hosting;

/// <summary>
/// Hands what a page read for its prerender over to the same page's first interactive render, so that the
/// circuit's first render shows the page as the prerender did instead of a loading state in between (the rows
/// would vanish and come back). The data stays on the server: the page persists only the token
/// <see cref="Put"/> returns (a 2,000-task run is a megabyte as JSON, too much to write into the HTML). A token
/// is taken once; one not taken within <see cref="Lifetime"/> is dropped, and at most <see cref="Capacity"/>
/// are kept (the oldest goes first). A page whose token is gone loads as before, with its loading state.
/// </summary>
public sealed class PrerenderHandoff(TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(60);
    public const int Capacity = 64;

    private readonly ConcurrentDictionary<string, (object Value, DateTimeOffset At)> _items = new(StringComparer.Ordinal);

    /// <summary>Keeps <paramref name="value"/> for the page's interactive render; the token goes into the page's persisted state.</summary>
    public string Put(object value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var now = time.GetUtcNow();
        foreach (var (token, item) in _items)
        {
            if (now - item.At >= Lifetime)
            {
                _items.TryRemove(token, out _);
            }
        }
        while (_items.Count >= Capacity && _items.MinBy(p => p.Value.At) is { Key: { } oldest })
        {
            _items.TryRemove(oldest, out _);
        }
        var key = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        _items[key] = (value, now);
        return key;
    }

    /// <summary>The value handed over with <paramref name="token"/>, once; null when it is gone, too old or of another type.</summary>
    public T? Take<T>(string? token) where T : class =>
        token is not null && _items.TryRemove(token, out var item) && time.GetUtcNow() - item.At < Lifetime ? item.Value as T : null;
}
