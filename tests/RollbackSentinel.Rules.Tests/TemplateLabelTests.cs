using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

/// <summary>A target template label that the trigger's query can never produce is an error; anything uncertain is not.</summary>
public sealed class TemplateLabelTests
{
    private static string Policy(string query, string action = "rollback") => Document(
        target: "kubectl:\n  name: \"{{ labels.deployment }}\"\n  namespace: shop",
        triggers: $"- name: up\n  availability:\n    query: {query}\n    min: 0.9\n  action: {action}");

    [Theory]
    [InlineData("avg(up)", "no labels at all (it aggregates without 'by')")]
    [InlineData("avg by (job) (up)", "only the labels job")]
    [InlineData("sum(rate(up[5m])) by (job, instance)", "only the labels instance, job")]
    [InlineData("histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))", "no labels at all (it aggregates without 'by')")]
    [InlineData("1 - avg(up)", "no labels at all (it aggregates without 'by')")]
    public void Parse_LabelTheQueryCannotHave_IsAnErrorAtTheTemplate(string query, string has)
    {
        var result = PolicyParser.Parse("p.yaml", Policy(query));

        Assert.Empty(result.Policies);
        Assert.Equal(
            [$"p.yaml:8:13: spec.target.kubectl.name: '{{{{ labels.deployment }}}}' can never be filled: the series of trigger 'up' (query '{query}') have {has}; group the query by deployment"],
            result.Diagnostics.Select(d => d.ToString()));
    }

    [Theory]
    [InlineData("avg by (deployment) (up)")]
    [InlineData("sum without (instance) (up)")]
    [InlineData("up")]
    [InlineData("rate(x[5m])")]
    [InlineData("topk(1, up)")]
    [InlineData("avg(up) or on() vector(1)")]
    [InlineData("label_replace(avg(up), \"deployment\", \"x\", \"\", \"\")")]
    [InlineData("sum by (deployment) (a) / sum by (deployment) (b)")]
    public void Parse_LabelTheQueryMayHave_IsAccepted(string query)
    {
        var result = PolicyParser.Parse("p.yaml", Policy(query.Replace("\"", "\\\"", StringComparison.Ordinal) is var q && query.Contains('"', StringComparison.Ordinal) ? $"\"{q}\"" : query));

        Assert.Empty(result.Diagnostics.Select(d => d.ToString()));
        Assert.Single(result.Policies);
    }

    [Fact]
    public void Parse_NotifyTrigger_IsNotChecked()
    {
        var result = PolicyParser.Parse("p.yaml", Policy("avg(up)", action: "notify"));

        Assert.Empty(result.Diagnostics);
    }
}
