namespace Batchyard.Dashboard;

/// <summary>Anchors the dashboard assembly for hosting.</summary>
public static class DashboardMarker;
