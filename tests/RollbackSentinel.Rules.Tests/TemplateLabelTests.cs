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

    /// <summary>Queries people write for per-deployment guards: each may produce 'deployment', so none may be rejected.</summary>
    [Theory]
    [InlineData("sum by (deployment) (rate(http_requests_total{code=~\"5..\"}[5m]))")]
    [InlineData("sum(rate(x[5m])) by (deployment)")]
    [InlineData("sum by (deployment, pod) (rate(x[5m]))")]
    [InlineData("sum by (deployment,) (rate(x[5m]))")]
    [InlineData("sum by (\"deployment\") (rate(x[5m]))")]
    [InlineData("sum without (pod, instance) (rate(x[5m]))")]
    [InlineData("sum by (deployment) (rate(a[5m])) / on (deployment) group_left sum by (deployment) (rate(b[5m]))")]
    [InlineData("sum by (deployment, pod) (rate(a[5m])) / ignoring (pod) group_left sum by (deployment) (rate(b[5m]))")]
    [InlineData("label_replace(sum by (pod) (rate(x[5m])), \"deployment\", \"$1\", \"pod\", \"(.*)-[^-]+-[^-]+\")")]
    [InlineData("sum by (deployment) (rate(x[5m] offset 1h))")]
    [InlineData("max_over_time(sum by (deployment) (rate(x[1m]))[10m:1m])")]
    [InlineData("increase(x{deployment=\"cart\"}[10m])")]
    [InlineData("clamp_min(sum by (deployment) (rate(x[5m])), 0)")]
    [InlineData("clamp(sum by (deployment) (rate(x[5m])), 0, 1)")]
    [InlineData("absent(up{deployment=\"checkout\"})")]
    [InlineData("sum by (deployment) (rate(a[5m])) or sum by (deployment) (rate(b[5m]))")]
    [InlineData("sum by (deployment) (rate(a[5m])) unless sum by (deployment) (rate(b[5m])) == 0")]
    [InlineData("histogram_quantile(0.99, sum by (le, deployment) (rate(x_bucket[5m])))")]
    [InlineData("rate(x[5m]) > 0.1")]
    [InlineData("sum by (deployment) (rate(x[5m])) > bool 0.1")]
    [InlineData("1 - (sum by (deployment) (rate(a[5m])) / sum by (deployment) (rate(b[5m])))")]
    [InlineData("sum by (deployment) (kube_deployment_status_replicas_unavailable) / sum by (deployment) (kube_deployment_spec_replicas) * 100")]
    [InlineData("-sum by (deployment) (rate(x[5m]))")]
    [InlineData("2e-3 * sum by (deployment) (rate(x[5m]))")]
    [InlineData("topk(5, sum by (deployment) (rate(x[5m])))")]
    [InlineData("count_values(\"deployment\", x)")]
    [InlineData("SUM BY (deployment) (rate(x[5m]))")]
    [InlineData("sum by (deployment) (rate(x[5m])) # errors per deployment")]
    public void Parse_RealWorldQueryThatMayKeepTheLabel_IsAccepted(string query)
    {
        var result = PolicyParser.Parse("p.yaml", Policy(Quoted(query)));

        Assert.Empty(result.Diagnostics.Select(d => d.ToString()));
        Assert.Single(result.Policies);
    }

    [Fact]
    public void Parse_PageTriggerWithoutConfirm_IsNotChecked()
    {
        // It only pages: nothing renders the target, so a page on an overall query beside a per-deployment target is fine.
        var result = PolicyParser.Parse("p.yaml", Policy("avg(up)", action: "page"));

        Assert.Empty(result.Diagnostics.Select(d => d.ToString()));
        Assert.Single(result.Policies);
    }

    [Fact]
    public void Parse_PageTriggerWithConfirm_IsChecked()
    {
        // An approval rolls back the target rendered from the page's series.
        var yaml = Policy("avg(up)", action: "page") + "  confirm:\n    timeout: 10m\n";

        var result = PolicyParser.Parse("p.yaml", yaml);

        Assert.Empty(result.Policies);
        Assert.Contains("can never be filled", Assert.Single(result.Diagnostics).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("parens")]
    [InlineData("signs")]
    public async Task Parse_HugePathologicalQuery_FinishesAndIsNotGuessedAt(string shape)
    {
        // Near the 1 MiB file limit: the analysis must not be quadratic in the query's length (it froze reloads).
        var query = shape == "parens"
            ? new string('(', 300_000) + "avg(up)" + new string(')', 300_000)
            : "avg(up)" + string.Concat(Enumerable.Repeat(" -", 300_000)) + " 1";
        var parse = Task.Run(() => PolicyParser.Parse("p.yaml", Policy(Quoted(query))));

        var finished = await Task.WhenAny(parse, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.True(finished == parse, "validate hangs on a long query");
        Assert.DoesNotContain((await parse).Diagnostics, d => d.Message.Contains("can never be filled", StringComparison.Ordinal));
        Assert.Null(PromQlLabels.AtMost(query));
    }

    private static string Quoted(string query) =>
        query.Contains('"', StringComparison.Ordinal) || query.Contains('#', StringComparison.Ordinal) || query.StartsWith('-')
            ? "\"" + query.Replace("\"", "\\\"", StringComparison.Ordinal) + "\""
            : query;

    [Fact]
    public void Parse_NotifyTrigger_IsNotChecked()
    {
        var result = PolicyParser.Parse("p.yaml", Policy("avg(up)", action: "notify"));

        Assert.Empty(result.Diagnostics);
    }
}
