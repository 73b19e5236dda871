package telemetry

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	promqlStrings   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promqlMatchers  = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\[\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)`)
	promqlIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	labelValues     = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
	promqlLabelName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	promqlKeywords  = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true}
)

// promqlNames returns the metric names and the label names an expression refers to. It is a scanner, not a parser:
// the expressions are separately proven valid PromQL by promtool, and this only has to find the identifiers that
// are selectors — everything that is not a string, a label matcher, a range, a grouping clause, a function or
// aggregation call (an identifier followed by "("), a keyword or a number.
func promqlNames(expr string) (metrics, labels []string) {
	// Grafana's templating query label_values(metric, label) is not PromQL.
	if m := labelValues.FindStringSubmatch(strings.TrimSpace(expr)); m != nil {
		return []string{m[1]}, []string{m[2]}
	}
	for _, m := range promqlMatchers.FindAllString(promqlStrings.ReplaceAllString(expr, `""`), -1) {
		for _, l := range promqlLabelName.FindAllStringSubmatch(m, -1) {
			labels = append(labels, l[1])
		}
	}
	s := promqlStrings.ReplaceAllString(expr, `""`)
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

func TestPromQLNamesScanner(t *testing.T) {
	cases := []struct {
		expr            string
		metrics, labels []string
	}{
		{`sum by (http_route, le) (rate(http_server_request_duration_seconds_bucket{job=~"$job"}[$__rate_interval]))`,
			[]string{"http_server_request_duration_seconds_bucket"}, []string{"http_route", "job", "le"}},
		{`sum(rate(a_total{code=~"5..",x!="by(y)"}[5m])) / sum(rate(b_count[5m] offset 1h)) > 0.01`,
			[]string{"a_total", "b_count"}, []string{"code", "x"}},
		{`(time() - max(audit_last_clean_timestamp_seconds)) > 3600 or absent(audit_last_clean_timestamp_seconds)`,
			[]string{"audit_last_clean_timestamp_seconds"}, nil},
		{`histogram_quantile(0.95, sum(rate(x_bucket[1m])) by (le)) > bool 1e3`, []string{"x_bucket"}, []string{"le"}},
		{`label_values(http_server_request_duration_seconds_count, job)`,
			[]string{"http_server_request_duration_seconds_count"}, []string{"job"}},
	}
	for _, c := range cases {
		m, l := promqlNames(c.expr)
		if !slices.Equal(m, c.metrics) || !slices.Equal(l, c.labels) {
			t.Errorf("promqlNames(%q) = %v, %v; want %v, %v", c.expr, m, l, c.metrics, c.labels)
		}
	}
}
