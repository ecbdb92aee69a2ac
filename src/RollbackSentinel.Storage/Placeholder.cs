namespace RollbackSentinel.Storage; internal static class Placeholder { }
