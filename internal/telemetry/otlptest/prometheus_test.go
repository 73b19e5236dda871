package otlptest

import (
	"slices"
	"testing"
)

func TestPromQLNames(t *testing.T) {
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
		{`a_total / on (job) group_left (kind) b_info`, []string{"a_total", "b_info"}, []string{"job", "kind"}},
		{`label_values(http_server_request_duration_seconds_count, job)`,
			[]string{"http_server_request_duration_seconds_count"}, []string{"job"}},
	}
	for _, c := range cases {
		m, l := PromQLNames(c.expr)
		if !slices.Equal(m, c.metrics) || !slices.Equal(l, c.labels) {
			t.Errorf("PromQLNames(%q) = %v, %v; want %v, %v", c.expr, m, l, c.metrics, c.labels)
		}
	}
}

func TestCheckQueriesReportsUnknownNamesAndEmptyQueries(t *testing.T) {
	set := PromSet{Metrics: map[string]bool{"a_total": true}, Labels: map[string]bool{"job": true, "code": true}}
	queries := []Query{
		{"ok", `sum by (code) (rate(a_total{job="x"}[5m]))`},
		{"unknown metric", `rate(b_total[5m])`},
		{"unknown label", `sum by (kind) (a_total)`},
		{"no metric", `vector(1)`},
	}
	got := CheckQueries(queries, set, nil)
	want := []string{"unknown metric: metric b_total is not exported", "unknown label: label kind is on no exported metric",
		`no metric: found no metric name in "vector(1)"`}
	if !slices.Equal(got, want) {
		t.Fatalf("CheckQueries = %q, want %q", got, want)
	}
	if got := CheckQueries(queries[1:2], set, func(m string) bool { return m != "b_total" }); len(got) != 0 {
		t.Fatalf("a metric outside only() must not be reported: %q", got)
	}
}
