using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Rules.Tests;

public sealed class TemplateTests
{
    [Fact]
    public void TryParse_PlainText_IsConstantWithNoLabels()
    {
        Assert.True(Template.TryParse("checkout", out var t, out var error), error);

        Assert.True(t.IsConstant);
        Assert.Empty(t.LabelNames);
        Assert.Equal("checkout", t.Text);
    }

    [Theory]
    [InlineData("{{ labels.deployment }}", new[] { "deployment" })]
    [InlineData("{{labels.deployment}}", new[] { "deployment" })]
    [InlineData("{{   labels.deployment\t}}", new[] { "deployment" })]
    [InlineData("{{ labels.app }}-{{ labels.track }}", new[] { "app", "track" })]
    [InlineData("{{ labels.app }}/{{ labels.app }}", new[] { "app" })]
    [InlineData("https://hooks.example.com/{{ labels.namespace }}/abort", new[] { "namespace" })]
    [InlineData("{{ labels._private_1 }}", new[] { "_private_1" })]
    public void TryParse_LabelReferences_ListsEachLabelOnceInOrder(string text, string[] expected)
    {
        Assert.True(Template.TryParse(text, out var t, out var error), error);

        Assert.Equal(expected, t.LabelNames);
        Assert.False(t.IsConstant);
    }

    [Theory]
    [InlineData("{{ deployment }}", "'{{ deployment }}' is not a label reference: write '{{ labels.NAME }}'")]
    [InlineData("{{ .Labels.deployment }}", "'{{ .Labels.deployment }}' is not a label reference: write '{{ labels.NAME }}'")]
    [InlineData("{{ labels.app-name }}", "'{{ labels.app-name }}' is not a label reference: write '{{ labels.NAME }}'")]
    [InlineData("{{ labels.1st }}", "'{{ labels.1st }}' is not a label reference: write '{{ labels.NAME }}'")]
    [InlineData("{{ labels.a | upper }}", "'{{ labels.a | upper }}' is not a label reference: write '{{ labels.NAME }}'")]
    [InlineData("{{}}", "'{{  }}' is not a label reference: write '{{ labels.NAME }}'")]
    [InlineData("{{ labels.namespace", "'{{' at position 1 is not closed with '}}'")]
    [InlineData("shop-{{ labels.a }}-{{ labels.b", "'{{' at position 21 is not closed with '}}'")]
    [InlineData("labels.namespace }}", "'}}' at position 18 has no matching '{{'")]
    [InlineData("{{ labels.a }} }}", "'}}' at position 16 has no matching '{{'")]
    public void TryParse_Malformed_FailsWithThePosition(string text, string expectedError)
    {
        Assert.False(Template.TryParse(text, out var t, out var error));

        Assert.Null(t);
        Assert.Equal(expectedError, error);
    }

    // Bug: a stray '}}' before the first '{{' is not noticed, so the text is accepted and rendered as is.
    [Fact]
    public void TryParse_StrayCloseBeforeAReference_IsAnError()
    {
        Assert.False(Template.TryParse("}} {{ labels.a }}", out _, out var error));

        Assert.Equal("'}}' at position 1 has no matching '{{'", error);
    }

    [Fact]
    public void Parse_Malformed_ThrowsFormatException()
    {
        var e = Assert.Throws<FormatException>(() => Template.Parse("{{ app }}"));

        Assert.Equal("'{{ app }}' is not a label reference: write '{{ labels.NAME }}'", e.Message);
    }

    [Fact]
    public void TryRender_AllLabelsPresent_SubstitutesEachReference()
    {
        var t = Template.Parse("{{ labels.namespace }}/{{labels.deployment}}-{{ labels.namespace }}");

        Assert.True(t.TryRender(LabelSet.Of(("deployment", "checkout"), ("namespace", "shop"), ("pod", "x")), out var rendered, out var error), error);

        Assert.Equal("shop/checkout-shop", rendered);
    }

    [Fact]
    public void TryRender_Constant_IsTheTextWhateverTheLabels()
    {
        Assert.True(Template.Parse("checkout").TryRender(LabelSet.Empty, out var rendered, out _));

        Assert.Equal("checkout", rendered);
    }

    [Fact]
    public void TryRender_LabelMissing_FailsNamingTheLabelsAndTheSeries()
    {
        var t = Template.Parse("{{ labels.namespace }}/{{ labels.deployment }}/{{ labels.pod }}");

        Assert.False(t.TryRender(LabelSet.Of(("deployment", "checkout")), out var rendered, out var error));

        Assert.Null(rendered);
        Assert.Equal("template '{{ labels.namespace }}/{{ labels.deployment }}/{{ labels.pod }}' needs label(s) namespace, pod but the series {deployment=\"checkout\"} has none", error);
    }

    [Fact]
    public void TryRender_EmptyLabelValue_IsRenderedAsEmpty()
    {
        // Prometheus drops empty labels, so a present-but-empty value can only come from a test; it is not "missing".
        Assert.True(Template.Parse("x{{ labels.a }}y").TryRender(LabelSet.Of(("a", string.Empty)), out var rendered, out _));

        Assert.Equal("xy", rendered);
    }

    // Bug (Core): Template is a record but LabelNames is an array compared by reference, so two templates
    // parsed from the same text differ, and so do the targets and policies that hold them.
    [Fact]
    public void Equals_TwoTemplatesParsedFromTheSameText_AreEqual()
    {
        Assert.Equal(Template.Parse("{{ labels.deployment }}"), Template.Parse("{{ labels.deployment }}"));
        Assert.Equal(new HelmTarget(Template.Parse("search")), new HelmTarget(Template.Parse("search")));
    }
}
