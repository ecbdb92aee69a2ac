using System.Text.Json;
using RollbackSentinel.Cli.Tests.Daemon;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// <c>GET /api/v1/policies</c> shows every setting the daemon runs, under the policy format's YAML keys, defaults
/// filled in: labels, target (a webhook's URL redacted), confirm, notify, watch, gate and each trigger's condition.
/// </summary>
[Collection(ApiDaemonCollection.Name)]
public sealed class PolicyApiTests
{
    private static string Rule(string name, Uri webhook) => name == "shop"
        ? $$"""
            apiVersion: rollback-sentinel/v1
            kind: RollbackPolicy
            metadata:
              name: shop
              labels:
                team: payments
            spec:
              target:
                webhook:
                  url: {{webhook}}rollback/{{"{{"}} labels.deployment {{"}}"}}/key-s3cret
                  timeout: 10s
                  idempotencyKey: "{{"{{"}} labels.deployment {{"}}"}}"
              schedule:
                interval: 1m
              cooldown: 20m
              confirm:
                approvers: [U024BE7LH, S0614TZR7]
                timeout: 5m
                onTimeout: escalate
              notify:
                slackChannel: C0SHOP
              watch:
                for: 30m
                outside: notify
              gate:
                minPasses: 4
              dryRun: true
              triggers:
                - name: errors
                  errorRate:
                    errors: sum by (deployment) (rate(errors_total[1m]))
                    total: sum by (deployment) (rate(requests_total[1m]))
                    max: 0.05
                    minTotal: 2
                  for: 2m
                  action: page
                  noData: breach
                  inconclusiveLimit: 6
            """
        : """
            apiVersion: rollback-sentinel/v1
            kind: RollbackPolicy
            metadata:
              name: other
            spec:
              target:
                haproxy:
                  runtimeApi: tcp://127.0.0.1:9
                  backend: app
                  weights: {blue: 100, green: 0}
                  states: {green: drain}
              schedule:
                interval: 1m
              triggers:
                - name: latency
                  latency:
                    query: histogram_quantile(0.99, sum by (le) (rate(latency_bucket[1m])))
                    baseline:
                      offset: 1d
                    maxRatio: 1.5
                  action: rollback
                - name: depth
                  threshold:
                    query: max(queue_depth)
                    op: ">="
                    value: 1000
                  action: notify
            """;

    [Fact]
    public async Task Policies_ShowEverySettingTheDaemonRuns_UnderTheYamlKeys()
    {
        await using var sentinel = await InProcessSentinel.StartAsync(policy: Rule);
        using var api = sentinel.Api();

        var policies = (await api.GetJsonAsync("api/v1/policies")).EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        var shop = policies["shop"];
        var other = policies["other"];

        Assert.Equal("""{"team":"payments"}""", shop.GetProperty("labels").GetRawText());
        var webhook = shop.GetProperty("target").GetProperty("webhook");
        Assert.Equal(["webhook"], shop.GetProperty("target").EnumerateObject().Select(p => p.Name));
        Assert.StartsWith($"http://127.0.0.1:{sentinel.Webhook.BaseAddress.Port}/rollback/…#", webhook.GetProperty("url").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", shop.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(("10s", "{{ labels.deployment }}", JsonValueKind.Null), (webhook.GetProperty("timeout").GetString(), webhook.GetProperty("idempotencyKey").GetString(), webhook.GetProperty("secretFile").ValueKind));
        Assert.Equal(("every 1m", "20m", true), (shop.GetProperty("schedule").GetString(), shop.GetProperty("cooldown").GetString(), shop.GetProperty("dryRun").GetBoolean()));
        Assert.Equal("""{"approvers":["U024BE7LH","S0614TZR7"],"timeout":"5m","onTimeout":"escalate"}""", shop.GetProperty("confirm").GetRawText());
        Assert.Equal("""{"slackChannel":"C0SHOP","pagerdutyRoutingKeyFile":null}""", shop.GetProperty("notify").GetRawText());
        Assert.Equal("""{"for":"30m","outside":"notify","detect":{"target":false,"interval":"30s","query":null}}""", shop.GetProperty("watch").GetRawText());
        Assert.Equal("""{"minPasses":4}""", shop.GetProperty("gate").GetRawText());
        var errors = Assert.Single(shop.GetProperty("triggers").EnumerateArray());
        Assert.Equal(("errors", "errorRate", "page", "2m"), (errors.GetProperty("name").GetString(), errors.GetProperty("kind").GetString(), errors.GetProperty("action").GetString(), errors.GetProperty("for").GetString()));
        Assert.Equal("""{"errors":"sum by (deployment) (rate(errors_total[1m]))","total":"sum by (deployment) (rate(requests_total[1m]))","max":0.05,"minTotal":2}""", errors.GetProperty("condition").GetRawText());
        Assert.Equal(("breach", 6), (errors.GetProperty("noData").GetString(), errors.GetProperty("inconclusiveLimit").GetInt32()));

        // The defaults, filled in: no labels, no confirm (a page asks nobody), the daemon's channels.
        Assert.Equal("{}", other.GetProperty("labels").GetRawText());
        Assert.Equal("""{"haproxy":{"runtimeApi":"tcp://127.0.0.1:9","backend":"app","weights":{"blue":100,"green":0},"states":{"green":"drain"},"timeout":null}}""", other.GetProperty("target").GetRawText());
        Assert.Equal(("30m", false), (other.GetProperty("cooldown").GetString(), other.GetProperty("dryRun").GetBoolean()));
        Assert.Equal(JsonValueKind.Null, other.GetProperty("confirm").ValueKind);
        Assert.Equal("""{"slackChannel":null,"pagerdutyRoutingKeyFile":null}""", other.GetProperty("notify").GetRawText());
        Assert.Equal("""{"for":"1h","outside":"page","detect":{"target":false,"interval":"30s","query":null}}""", other.GetProperty("watch").GetRawText());
        Assert.Equal("""{"minPasses":3}""", other.GetProperty("gate").GetRawText());
        var triggers = other.GetProperty("triggers").EnumerateArray().ToArray();
        Assert.Equal(("latency", "rollback", "0s", "inconclusive", 4), (triggers[0].GetProperty("kind").GetString(), triggers[0].GetProperty("action").GetString(), triggers[0].GetProperty("for").GetString(), triggers[0].GetProperty("noData").GetString(), triggers[0].GetProperty("inconclusiveLimit").GetInt32()));
        Assert.Equal("""{"query":"histogram_quantile(0.99, sum by (le) (rate(latency_bucket[1m])))","baseline":{"offset":"1d"},"maxRatio":1.5,"maxIncrease":null}""", triggers[0].GetProperty("condition").GetRawText());
        Assert.Equal(("threshold", "notify"), (triggers[1].GetProperty("kind").GetString(), triggers[1].GetProperty("action").GetString()));
        Assert.Equal("""{"query":"max(queue_depth)","op":">=","value":1000}""", triggers[1].GetProperty("condition").GetRawText());
    }

    [Fact]
    public async Task Policies_EveryFieldOfThePolicySchema_IsShown()
    {
        // One policy per target kind and condition, every optional field set: each field of docs/policy.schema.json
        // must come back as a key (or, for the schedule and the condition's kind, as a value).
        var secrets = Directory.CreateTempSubdirectory("sentinel-policy-api-secrets-").FullName;
        try
        {
            foreach (var file in new[] { "hook-secret", "pd-key", "kubeconfig" })
            {
                await File.WriteAllTextAsync(Path.Combine(secrets, file), new string('k', 32));
            }

            await using var sentinel = await InProcessSentinel.StartAsync(
                extraSettings: (options, _) => options.Secrets.AllowedDirectories = [secrets],
                policy: (name, webhook) => name == "shop" ? EveryField(webhook, secrets) : Rule(name, webhook));
            using var api = sentinel.Api();

            var policies = await api.GetJsonAsync("api/v1/policies");
            var shown = new SortedSet<string>(StringComparer.Ordinal);
            Collect(policies, shown);
            var schema = new SortedSet<string>(StringComparer.Ordinal);
            using (var doc = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(RepoRoot.Path, "docs", "policy.schema.json"))))
            {
                SchemaProperties(doc.RootElement, schema);
            }

            // The document's envelope is not a setting; the schedule is shown as text ("every 1m", "cron \"...\"").
            schema.ExceptWith(["apiVersion", "metadata", "spec", "interval", "cron"]);
            Assert.Equal(4, policies.GetArrayLength());
            Assert.Contains(policies.EnumerateArray(), p => p.GetProperty("schedule").GetString() == "cron \"0 0 * * * ?\"");
            Assert.Empty(schema.Except(shown));

            // A burnRate trigger: its queries as written, with {{window}}.
            var slo = policies.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "shop").GetProperty("triggers").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "slo");
            Assert.Equal("burnRate", slo.GetProperty("kind").GetString());
            Assert.Equal(
                """{"objective":99.9,"period":"28d","errors":"sum(rate(errors_total[{{window}}]))","total":"sum(rate(requests_total[{{window}}]))","windows":[{"long":"1h","short":"5m","factor":14.4}],"minTotal":2}""",
                slo.GetProperty("condition").GetRawText());
        }
        finally
        {
            Directory.Delete(secrets, recursive: true);
        }
    }

    private const string Window = "{{window}}";

    private static string EveryField(Uri webhook, string secrets) => $$"""
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: shop
          labels:
            team: payments
        spec:
          target:
            webhook:
              url: {{webhook}}rollback
              secretFile: {{Path.Combine(secrets, "hook-secret")}}
              timeout: 10s
              idempotencyKey: shop
          schedule:
            interval: 1m
          cooldown: 20m
          confirm:
            approvers: [U024BE7LH]
            timeout: 5m
            onTimeout: hold
          notify:
            slackChannel: C0SHOP
            pagerdutyRoutingKeyFile: {{Path.Combine(secrets, "pd-key")}}
          watch:
            for: 30m
            outside: page
            detect:
              target: false
              interval: 1m
              query: count by (version) (app_build_info)
          gate:
            minPasses: 4
          dryRun: false
          triggers:
            - name: errors
              errorRate:
                errors: sum(rate(errors_total[1m]))
                total: sum(rate(requests_total[1m]))
                max: 0.05
                minTotal: 2
              for: 2m
              action: page
              noData: breach
              inconclusiveLimit: 6
            - name: slo
              burnRate:
                objective: 99.9
                period: 28d
                errors: sum(rate(errors_total[{{Window}}]))
                total: sum(rate(requests_total[{{Window}}]))
                windows:
                  - {long: 1h, short: 5m, factor: 14.4}
                minTotal: 2
              action: page
        ---
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: kube
        spec:
          target:
            kubectl:
              kind: StatefulSet
              name: checkout
              namespace: shop
              context: prod
              kubeconfig: {{Path.Combine(secrets, "kubeconfig")}}
              toRevision: 3
              timeout: 2m
          schedule:
            cron: "0 0 * * * ?"
          watch:
            detect:
              target: false
          triggers:
            - name: p99
              latency:
                query: histogram_quantile(0.99, sum by (le) (rate(latency_bucket[1m])))
                baseline:
                  query: histogram_quantile(0.99, sum by (le) (rate(stable_latency_bucket[1m])))
                maxIncrease: 0.2
              action: rollback
            - name: p50
              latency:
                query: histogram_quantile(0.5, sum by (le) (rate(latency_bucket[1m])))
                baseline:
                  beforeDeploy: 30m
                maxRatio: 2
              action: page
            - name: up
              availability:
                query: avg(up)
                min: 0.95
              action: notify
        ---
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: released
        spec:
          target:
            helm:
              release: checkout
              namespace: shop
              kubeContext: prod
              timeout: 2m
          schedule:
            interval: 1m
          watch:
            detect:
              target: false
          triggers:
            - name: up
              availability:
                query: avg(up)
                min: 0.95
              action: rollback
        """;

    private static void Collect(JsonElement element, ISet<string> names)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in element.EnumerateObject())
                {
                    names.Add(p.Name);
                    if (p.Name == "kind" && p.Value.ValueKind == JsonValueKind.String)
                    {
                        names.Add(p.Value.GetString()!); // a trigger's condition key: errorRate, latency, ...
                    }

                    Collect(p.Value, names);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Collect(item, names);
                }

                break;
        }
    }

    private static void SchemaProperties(JsonElement schema, ISet<string> names)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (var p in schema.EnumerateObject())
        {
            if (p.Name == "properties")
            {
                foreach (var property in p.Value.EnumerateObject())
                {
                    names.Add(property.Name);
                    SchemaProperties(property.Value, names);
                }
            }
            else if (p.Name == "$defs")
            {
                foreach (var definition in p.Value.EnumerateObject())
                {
                    SchemaProperties(definition.Value, names);
                }
            }
            else if (p.Value.ValueKind is JsonValueKind.Object)
            {
                SchemaProperties(p.Value, names);
            }
            else if (p.Value.ValueKind is JsonValueKind.Array)
            {
                foreach (var item in p.Value.EnumerateArray())
                {
                    SchemaProperties(item, names);
                }
            }
        }
    }
}
