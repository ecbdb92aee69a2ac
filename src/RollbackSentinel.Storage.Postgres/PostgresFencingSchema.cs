namespace RollbackSentinel.Storage.Postgres;

/// <summary>Migration 4: fencing: delivery claims per incident and channel.</summary>
internal static class PostgresFencingSchema
{
    public static readonly PostgresMigration Migration = new(4, "fencing: delivery claims per incident and channel", """
        -- One row per (incident, channel) being told right now (ClaimDeliveryAsync); saving what the channel published
        -- deletes it. The primary key is what makes a claim exclusive: claims are one INSERT ... ON CONFLICT on it.
        CREATE TABLE delivery_claims (
            incident_id bigint NOT NULL REFERENCES incidents (id),
            channel     text NOT NULL,
            lease_owner text NOT NULL,
            lease_until timestamptz NOT NULL,
            PRIMARY KEY (incident_id, channel)
        );
        """);
}
