using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Core.Tests;

/// <summary>The one hard line of the design: Core decides, it does no I/O and knows no adapter.</summary>
public sealed class ArchitectureTests
{
    [Fact]
    public void Core_ReferencesOnlyTheBaseLibraryAndNothingThatDoesIO()
    {
        var references = typeof(Policy).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToArray();

        Assert.All(references, name => Assert.True(
            name is "System.Runtime" or "System.Collections" or "System.Collections.Immutable" or "System.Linq" or "System.Text.RegularExpressions"
                or "System.Memory" or "System.Collections.Concurrent" or "System.Threading" or "System.Runtime.InteropServices"

                // Base library, no I/O: the decision keys' hash and the evidence's one JSON form (issue 12).
                or "System.Security.Cryptography" or "System.Text.Json" or "System.Text.Encodings.Web",
            $"RollbackSentinel.Core references {name}; Core must stay pure (no I/O, no packages)"));
    }
}
