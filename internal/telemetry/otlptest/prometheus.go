package otlptest

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/otlptranslator"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// PromSet is what Prometheus holds after Alloy's otelcol.exporter.prometheus (add_metric_suffixes = true) converted
// a run's metrics: series names and label names.
type PromSet struct {
	OTelNames []string        // the OTel metric names, sorted
	Metrics   map[string]bool // Prometheus series names (a histogram gives _bucket, _sum and _count)
	Labels    map[string]bool // label names, with job, instance (from the resource) and le
}

// Translate converts received metrics with the Prometheus project's own OTLP translator.
func Translate(metrics []*metricspb.Metric) (PromSet, error) {
	namer := otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes)
	labelNamer := otlptranslator.LabelNamer{}
	set := PromSet{Metrics: map[string]bool{}, Labels: map[string]bool{"job": true, "instance": true}}
	seen := map[string]bool{}
	for _, m := range metrics {
		if !seen[m.GetName()] {
			seen[m.GetName()] = true
			set.OTelNames = append(set.OTelNames, m.GetName())
		}
		var typ otlptranslator.MetricType
		suffixes := []string{""}
		var attrs [][]*commonpb.KeyValue
		switch d := m.GetData().(type) {
		case *metricspb.Metric_Sum:
			typ = otlptranslator.MetricTypeNonMonotonicCounter
			if d.Sum.GetIsMonotonic() {
				typ = otlptranslator.MetricTypeMonotonicCounter
			}
			for _, dp := range d.Sum.GetDataPoints() {
				attrs = append(attrs, dp.GetAttributes())
			}
		case *metricspb.Metric_Gauge:
			typ = otlptranslator.MetricTypeGauge
			for _, dp := range d.Gauge.GetDataPoints() {
				attrs = append(attrs, dp.GetAttributes())
			}
		case *metricspb.Metric_Histogram:
			typ = otlptranslator.MetricTypeHistogram
			suffixes = []string{"_bucket", "_sum", "_count"}
			set.Labels["le"] = true
			for _, dp := range d.Histogram.GetDataPoints() {
				attrs = append(attrs, dp.GetAttributes())
			}
		default:
			return set, fmt.Errorf("metric %s has a data type the configs do not expect: %T", m.GetName(), d)
		}
		base, err := namer.Build(otlptranslator.Metric{Name: m.GetName(), Unit: m.GetUnit(), Type: typ})
		if err != nil {
			return set, fmt.Errorf("translate %s: %w", m.GetName(), err)
		}
		for _, s := range suffixes {
			set.Metrics[base+s] = true
		}
		for _, kvs := range attrs {
			for _, kv := range kvs {
				l, err := labelNamer.Build(kv.GetKey())
				if err != nil {
					return set, fmt.Errorf("label %q of %s: %w", kv.GetKey(), m.GetName(), err)
				}
				set.Labels[l] = true
			}
		}
	}
	sort.Strings(set.OTelNames)
	return set, nil
}

// Sorted returns the keys of m in order.
func Sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var (
	promqlStrings   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promqlMatchers  = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\[\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)`)
	promqlIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlLabelName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	labelValues     = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
	promqlKeywords  = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true}
)

// PromQLNames returns the metric names and the label names an expression refers to. It is a scanner, not a parser:
// the expressions are separately proven valid PromQL by promtool, and this only has to find the identifiers that
// are selectors — everything that is not a string, a label matcher, a range, a grouping clause, a function or
// aggregation call (an identifier followed by "("), a keyword or a number. Grafana's label_values(metric, label)
// templating query is understood too.
func PromQLNames(expr string) (metrics, labels []string) {
	if m := labelValues.FindStringSubmatch(strings.TrimSpace(expr)); m != nil {
		return []string{m[1]}, []string{m[2]}
	}
	s := promqlStrings.ReplaceAllString(expr, `""`)
	for _, m := range promqlMatchers.FindAllString(s, -1) {
		for _, l := range promqlLabelName.FindAllStringSubmatch(m, -1) {
			labels = append(labels, l[1])
		}
	}
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllString(s, " ")
	for _, g := range promqlGrouping.FindAllStringSubmatch(s, -1) {
		for _, l := range strings.Split(g[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
	}
	s = promqlGrouping.ReplaceAllString(s, " ")
	for _, loc := range promqlIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsRune("0123456789.$", rune(s[loc[0]-1])) {
			continue // a number's exponent or unit (1e3, 5m) or a Grafana variable
		}
		if strings.HasPrefix(strings.TrimSpace(s[loc[1]:]), "(") || promqlKeywords[name] {
			continue // a function or aggregation call, or a keyword
		}
		metrics = append(metrics, name)
	}
	slices.Sort(metrics)
	slices.Sort(labels)
	return slices.Compact(metrics), slices.Compact(labels)
}
