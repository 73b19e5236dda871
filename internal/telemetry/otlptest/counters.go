package otlptest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/prometheus/otlptranslator"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// NamedCounters returns the counters (Prometheus names ending in _total) that the queries name, sorted.
func NamedCounters(queries []Query) []string {
	seen := map[string]bool{}
	for _, q := range queries {
		metrics, _ := PromQLNames(GrafanaVars.Replace(q.Expr))
		for _, m := range metrics {
			if strings.HasSuffix(m, "_total") {
				seen[m] = true
			}
		}
	}
	return Sorted(seen)
}

// CounterValues returns, by Prometheus name, the values (sorted) of every data point of the monotonic sums
// received, from every collection.
func CounterValues(metrics []*metricspb.Metric) (map[string][]float64, error) {
	namer := otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes)
	out := map[string][]float64{}
	for _, m := range metrics {
		sum, ok := m.GetData().(*metricspb.Metric_Sum)
		if !ok || !sum.Sum.GetIsMonotonic() {
			continue
		}
		name, err := namer.Build(otlptranslator.Metric{Name: m.GetName(), Unit: m.GetUnit(),
			Type: otlptranslator.MetricTypeMonotonicCounter})
		if err != nil {
			return nil, fmt.Errorf("translate %s: %w", m.GetName(), err)
		}
		for _, dp := range sum.Sum.GetDataPoints() {
			switch v := dp.GetValue().(type) {
			case *metricspb.NumberDataPoint_AsInt:
				out[name] = append(out[name], float64(v.AsInt))
			case *metricspb.NumberDataPoint_AsDouble:
				out[name] = append(out[name], v.AsDouble)
			}
		}
	}
	for _, vs := range out {
		sort.Float64s(vs)
	}
	return out, nil
}
