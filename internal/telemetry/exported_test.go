package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/otlptranslator"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// exportedSet is what Prometheus holds after Alloy's otelcol.exporter.prometheus (add_metric_suffixes = true)
// converted the metrics a run exported: metric names and label names.
type exportedSet struct {
	otelNames []string
	metrics   map[string]bool
	labels    map[string]bool
}

var (
	exportedOnce sync.Once
	exported     exportedSet
)

// exportedPrometheusNames runs the instrumented service once per test binary against the test OTLP receiver and
// translates what the receiver got into Prometheus names with the Prometheus project's own OTLP translator.
func exportedPrometheusNames(t *testing.T) exportedSet {
	t.Helper()
	exportedOnce.Do(func() {
		rcv := newOTLPReceiver(t)
		tel, _ := setupTelemetry(t, rcv.srv.URL, nil)
		runInstrumentedService(t)
		flush(t, tel)
		exported = translate(t, rcv.metricList())
	})
	if len(exported.metrics) == 0 {
		t.Fatal("the instrumented run exported no metrics")
	}
	return exported
}

// runInstrumentedService drives the HTTP middleware and the pgx instrumentation with real requests against
// PostgreSQL, and calls the ledger, relay and audit recorders the way their owners do.
func runInstrumentedService(t *testing.T) {
	pool := instrumentedPool(t)
	srv := httptest.NewServer(Handler(itemsRouter(t, pool)))
	defer srv.Close()
	if got := doRequest(t, http.MethodPost, srv.URL+"/v1/items/"+uuid.NewString(),
		map[string]string{"Authorization": testToken}, "{}"); got != http.StatusCreated {
		t.Fatalf("POST item: %d", got)
	}
	doRequest(t, http.MethodGet, srv.URL+"/v1/boom", map[string]string{"Authorization": testToken}, "")

	ctx := context.Background()
	RecordIdempotencyReplay(ctx)
	RecordIdempotencyConflict(ctx, "idempotency_key_reuse")
	RecordRejection(ctx, "insufficient_funds")
	SetDBReady(true)
	RecordRelayed(ctx, 3)
	RecordPublishError(ctx)
	RecordQuarantined(ctx)
	SetOutboxLag(1.5, 2)
	SetAuditResult(0, time.Now())
}

func translate(t *testing.T, metrics []*metricspb.Metric) exportedSet {
	t.Helper()
	namer := otlptranslator.NewMetricNamer("", otlptranslator.UnderscoreEscapingWithSuffixes)
	labelNamer := otlptranslator.LabelNamer{}
	set := exportedSet{metrics: map[string]bool{}, labels: map[string]bool{"job": true, "instance": true}}
	seen := map[string]bool{}
	addLabels := func(keys []string) {
		for _, k := range keys {
			l, err := labelNamer.Build(k)
			if err != nil {
				t.Fatalf("label %q: %v", k, err)
			}
			set.labels[l] = true
		}
	}
	for _, m := range metrics {
		if !seen[m.GetName()] {
			seen[m.GetName()] = true
			set.otelNames = append(set.otelNames, m.GetName())
		}
		var typ otlptranslator.MetricType
		var suffixes = []string{""}
		var keys []string
		switch d := m.GetData().(type) {
		case *metricspb.Metric_Sum:
			typ = otlptranslator.MetricTypeNonMonotonicCounter
			if d.Sum.GetIsMonotonic() {
				typ = otlptranslator.MetricTypeMonotonicCounter
			}
			for _, dp := range d.Sum.GetDataPoints() {
				keys = append(keys, attrKeys(dp.GetAttributes())...)
			}
		case *metricspb.Metric_Gauge:
			typ = otlptranslator.MetricTypeGauge
			for _, dp := range d.Gauge.GetDataPoints() {
				keys = append(keys, attrKeys(dp.GetAttributes())...)
			}
		case *metricspb.Metric_Histogram:
			typ = otlptranslator.MetricTypeHistogram
			suffixes = []string{"_bucket", "_sum", "_count"}
			set.labels["le"] = true
			for _, dp := range d.Histogram.GetDataPoints() {
				keys = append(keys, attrKeys(dp.GetAttributes())...)
			}
		default:
			t.Fatalf("metric %s has a data type the configs do not expect: %T", m.GetName(), d)
		}
		base, err := namer.Build(otlptranslator.Metric{Name: m.GetName(), Unit: m.GetUnit(), Type: typ})
		if err != nil {
			t.Fatalf("translate %s: %v", m.GetName(), err)
		}
		for _, s := range suffixes {
			set.metrics[base+s] = true
		}
		addLabels(keys)
	}
	sort.Strings(set.otelNames)
	return set
}

func attrKeys(kvs []*commonpb.KeyValue) []string {
	keys := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		keys = append(keys, kv.GetKey())
	}
	return keys
}
