namespace Batchyard.Cli;

/// <summary>Plain aligned text columns: a header in capitals, two spaces between columns, no borders.</summary>
internal sealed class TextTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    public void Add(params string?[] cells) => _rows.Add([.. cells.Select(c => c ?? "")]);

    public void WriteTo(TextWriter output)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, _rows.Select(r => i < r.Length ? r[i].Length : 0).DefaultIfEmpty(0).Max())).ToArray();
        WriteRow(output, headers, widths);
        foreach (var row in _rows)
        {
            WriteRow(output, row, widths);
        }
    }

    private static void WriteRow(TextWriter output, string[] cells, int[] widths)
    {
        var parts = cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]));
        output.WriteLine(string.Join("  ", parts).TrimEnd());
    }
}
