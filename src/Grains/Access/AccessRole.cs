namespace Batchyard.Access;

/// <summary>What a key may do; each role may also do everything of the roles before it.</summary>
public enum AccessRole
{
    /// <summary>Reads everything: DAGs, runs, logs, outputs, pools.</summary>
    Viewer,
    /// <summary>Also triggers, cancels, clears, pauses and unpauses.</summary>
    Operator,
    /// <summary>Also applies (PUT) and deletes DAGs and reads the audit log.</summary>
    Admin,
}

/// <summary>The kinds of call, each allowed from one role up.</summary>
public enum Permission
{
    /// <summary>Any read of DAGs, runs, logs, outputs and pools (viewer).</summary>
    Read,
    /// <summary>Trigger, cancel, clear, pause, unpause (operator).</summary>
    Operate,
    /// <summary>Apply and delete DAGs (admin).</summary>
    Apply,
    /// <summary>Read the audit log (admin).</summary>
    Audit,
}

public static class Permissions
{
    /// <summary>The least role that has <paramref name="permission"/>.</summary>
    public static AccessRole LeastRole(this Permission permission) => permission switch
    {
        Permission.Read => AccessRole.Viewer,
        Permission.Operate => AccessRole.Operator,
        _ => AccessRole.Admin,
    };

    /// <summary>The role's name in configuration and answers (<c>viewer</c>, <c>operator</c>, <c>admin</c>).</summary>
    public static string Name(this AccessRole role) => role.ToString().ToLowerInvariant();
}
