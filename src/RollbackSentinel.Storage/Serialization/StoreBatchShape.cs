using RollbackSentinel.Core.Incidents;

namespace RollbackSentinel.Storage.Serialization;

/// <summary>What both stores accept in a <see cref="StoreBatch"/> (SQLite and PostgreSQL alike).</summary>
internal static class StoreBatchShape
{
    /// <summary>An update is an open (id 0, <see cref="OpenIncident"/> first, and only there) or a change of a stored incident.</summary>
    /// <exception cref="ArgumentException">Neither.</exception>
    public static void Check(IncidentUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        var opens = update.Changes.Count > 0 && update.Changes[0] is OpenIncident;
        if (opens != (update.IncidentId == 0) || update.Changes.Skip(1).Any(c => c is OpenIncident))
        {
            throw new ArgumentException(
                $"An update opens an incident (id 0, OpenIncident first and only there) or changes a stored one (its id): incident {update.IncidentId} with [{string.Join(", ", update.Changes.Select(c => c.GetType().Name))}].",
                nameof(update));
        }
    }
}
