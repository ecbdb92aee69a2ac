using RollbackSentinel.Core.Policies;
using YamlDotNet.RepresentationModel;

namespace RollbackSentinel.Rules;

public static partial class PolicyParser
{
    /// <summary>
    /// A target template refers to the labels of the series that fired; a label the trigger's query can never
    /// produce (<c>{{ labels.deployment }}</c> with <c>avg(up)</c>) would fail at 3 a.m. instead of here. Only
    /// reported when the query's grouping shows it for certain (see <see cref="PromQlLabels"/>).
    /// </summary>
    private static void CheckTemplateLabels(MapReader spec, IReadOnlyList<Trigger> triggers)
    {
        if (spec.Node("target") is not YamlMappingNode target)
        {
            return;
        }

        // A page renders the target only when a person can approve its rollback (confirm); otherwise it only pages.
        var confirm = spec.Node("confirm") is not null;
        var acting = triggers
            .Where(t => t.Action == TriggerAction.Rollback || (t.Action == TriggerAction.Page && confirm))
            .Select(t => (Trigger: t, Query: SeriesQuery(t.Condition)))
            .Select(x => (x.Trigger, x.Query, Labels: PromQlLabels.AtMost(x.Query)))
            .Where(x => x.Labels is not null)
            .ToList();
        foreach (var (kind, block) in target.Children)
        {
            if (kind is not YamlScalarNode { Value: { } kindName } || block is not YamlMappingNode fields)
            {
                continue;
            }

            foreach (var (key, value) in fields.Children)
            {
                if (key is not YamlScalarNode { Value: { } field } || value is not YamlScalarNode { Value: { } text }
                    || !text.Contains("{{", StringComparison.Ordinal) || !Template.TryParse(text, out var template, out _))
                {
                    continue;
                }

                foreach (var label in template.LabelNames)
                {
                    var (trigger, query, labels) = acting.FirstOrDefault(x => !x.Labels!.Contains(label));
                    if (trigger is null)
                    {
                        continue;
                    }

                    var has = labels!.Count == 0 ? "no labels at all (it aggregates without 'by')" : $"only the labels {string.Join(", ", labels.Order(StringComparer.Ordinal))}";
                    spec.Context.Error(value.Start, $"{spec.Field("target")}.{kindName}.{field}",
                        $"'{{{{ labels.{label} }}}}' can never be filled: the series of trigger '{trigger.Name}' (query '{query}') have {has}; group the query by {label}");
                }
            }
        }
    }

    /// <summary>The query whose series (and labels) a trigger's verdicts carry.</summary>
    private static string SeriesQuery(TriggerCondition condition) => condition switch
    {
        ErrorRateCondition e => e.Total,
        BurnRateCondition b => BurnRateCondition.Over(b.Total, b.Windows[0].Short),
        LatencyCondition l => l.Query,
        AvailabilityCondition a => a.Query,
        ThresholdCondition t => t.Query,
        _ => string.Empty,
    };
}
