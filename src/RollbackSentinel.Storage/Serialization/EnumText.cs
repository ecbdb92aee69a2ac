namespace RollbackSentinel.Storage.Serialization;

/// <summary>Enums stored by name. Reading is strict (exact name, no numbers): what the store writes is all it reads.</summary>
internal static class EnumText
{
    public static T Parse<T>(string text, string what)
        where T : struct, Enum
    {
        foreach (var value in Enum.GetValues<T>())
        {
            if (string.Equals(value.ToString(), text, StringComparison.Ordinal))
            {
                return value;
            }
        }

        throw new InvalidDataException($"unknown {what} '{text}'");
    }
}
