# Reads Prometheus text exposition (format 0.0.4) and answers one question, chosen with -v op=...:
#
#   op=sum   name=N                 sum of every sample of N (all label sets), e.g. a counter's total
#   op=sumby name=N label=L         one line per value of label L: "value<TAB>sum", sorted by value
#   op=count name=N                 how many samples (label sets) N has
#   op=quantile name=H q=0.99       quantile of histogram H (all label sets summed by le), see below
#
# With two files (`awk -f prom.awk -v op=quantile ... before.txt after.txt`) the first is subtracted from
# the second, so counters and histograms describe only what happened between the two scrapes.
#
# Quantiles are estimated from cumulative buckets like PromQL's histogram_quantile: find the first bucket
# whose count reaches q*total, then interpolate linearly inside it. Output: "estimate<TAB>upper bound of
# that bucket<TAB>total observations<TAB>lower bound of that bucket". In the +Inf bucket the estimate is
# ">LAST" (the last finite bound). With no observations the output is "-<TAB>-<TAB>0<TAB>-".
function metric_name(line,    i) {
    i = index(line, "{")
    if (i == 0) { i = index(line, " ") }
    return substr(line, 1, i - 1)
}
function label_value(line, key,    s, rest) {
    s = index(line, key "=\"")
    if (s == 0) { return "" }
    rest = substr(line, s + length(key) + 2)
    return substr(rest, 1, index(rest, "\"") - 1)
}
BEGIN { files = 0 }
FNR == 1 { files++ }
/^#/ || NF < 2 { next }
{
    v = $NF + 0
    n = metric_name($0)
    if (op == "quantile") {
        if (n != name "_bucket") { next }
        le = label_value($0, "le")
        bucket[files, le] += v
        les[le] = 1
    } else if (n == name) {
        key = (op == "sumby") ? label_value($0, label) : ""
        acc[files, key] += v
        keys[key] = 1
        cnt[files]++
    }
}
END {
    last = files                      # the newer scrape
    base = (files >= 2) ? 1 : 0       # 0 = nothing to subtract
    if (op == "sum") {
        printf "%.17g\n", acc[last, ""] - (base ? acc[base, ""] : 0)
    } else if (op == "count") {
        print cnt[last] + 0
    } else if (op == "sumby") {
        k = 0
        for (key in keys) { sorted[++k] = key }
        # insertion sort, k is small
        for (i = 2; i <= k; i++) { t = sorted[i]; j = i - 1; while (j > 0 && sorted[j] > t) { sorted[j + 1] = sorted[j]; j-- } sorted[j + 1] = t }
        for (i = 1; i <= k; i++) {
            d = acc[last, sorted[i]] - (base ? acc[base, sorted[i]] : 0)
            printf "%s\t%.17g\n", sorted[i], d
        }
    } else if (op == "quantile") {
        k = 0
        for (le in les) { if (le != "+Inf") { bounds[++k] = le + 0; text[k] = le } }
        for (i = 2; i <= k; i++) { t = bounds[i]; tt = text[i]; j = i - 1; while (j > 0 && bounds[j] > t) { bounds[j + 1] = bounds[j]; text[j + 1] = text[j]; j-- } bounds[j + 1] = t; text[j + 1] = tt }
        total = bucket[last, "+Inf"] - (base ? bucket[base, "+Inf"] : 0)
        if (total <= 0) { printf "-\t-\t0\t-\n"; exit }
        rank = q * total
        prev = 0; lower = 0
        for (i = 1; i <= k; i++) {
            c = bucket[last, text[i]] - (base ? bucket[base, text[i]] : 0)
            if (c >= rank) {
                est = (c > prev) ? lower + (bounds[i] - lower) * (rank - prev) / (c - prev) : bounds[i]
                printf "%.6g\t%s\t%d\t%s\n", est, text[i], total, (i > 1 ? text[i - 1] : "0")
                exit
            }
            prev = c; lower = bounds[i]
        }
        printf ">%s\t+Inf\t%d\t%s\n", (k ? text[k] : "0"), total, (k ? text[k] : "0")
    }
}
