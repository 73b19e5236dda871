package otlptest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Query is one PromQL expression of the observability configs and where it is.
type Query struct{ Where, Expr string }

// GrafanaVars replaces Grafana's interval variables by what Grafana would substitute, so the text is plain PromQL.
var GrafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// Dashboard is the part of a Grafana dashboard model the checks read.
type Dashboard struct {
	Title      string
	Templating struct {
		List []struct {
			Name  string
			Type  string
			Query json.RawMessage
		}
	}
	Panels []struct {
		Title      string
		Type       string
		Datasource struct{ Type string }
		Targets    []struct {
			Expr       string
			Datasource struct{ Type string }
		}
	}
}

// LoadDashboard reads grafana/dashboards.json under dir (deploy/doks/observability).
func LoadDashboard(dir string) (Dashboard, error) {
	var d Dashboard
	raw, err := os.ReadFile(filepath.Join(dir, "grafana", "dashboards.json"))
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("dashboards.json is not valid JSON: %w", err)
	}
	return d, nil
}

// AlertQueries returns the expression of every rule in prometheus/alerts.yml under dir.
func AlertQueries(dir string) ([]Query, error) {
	var doc struct {
		Groups []struct {
			Rules []struct{ Alert, Record, Expr string }
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "prometheus", "alerts.yml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("alerts.yml: %w", err)
	}
	var out []Query
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			out = append(out, Query{"alert " + r.Alert + r.Record, r.Expr})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("alerts.yml has no rules")
	}
	return out, nil
}

// DashboardQueries returns the PromQL of every Prometheus panel target and templating query of d. A Prometheus
// target without a query is an error.
func DashboardQueries(d Dashboard) ([]Query, error) {
	var out []Query
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.Datasource.Type == "loki" || (tg.Datasource.Type == "" && p.Datasource.Type == "loki") {
				continue
			}
			if strings.TrimSpace(tg.Expr) == "" {
				return nil, fmt.Errorf("panel %q has a target without a query", p.Title)
			}
			out = append(out, Query{"panel " + p.Title, tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil || q.Query == "" {
			return nil, fmt.Errorf("templating variable %s: query %s", v.Name, v.Query)
		}
		out = append(out, Query{"variable " + v.Name, q.Query})
	}
	return out, nil
}

// AllQueries returns the alert and dashboard queries under dir.
func AllQueries(dir string) ([]Query, error) {
	alerts, err := AlertQueries(dir)
	if err != nil {
		return nil, err
	}
	d, err := LoadDashboard(dir)
	if err != nil {
		return nil, err
	}
	dash, err := DashboardQueries(d)
	if err != nil {
		return nil, err
	}
	return append(alerts, dash...), nil
}

// CheckQueries reports every metric or label a query names that set does not hold, and every query in which no
// metric name was found (a check that could not fail). only, when non-nil, limits the metric check to the names
// it accepts (for a run that exercises only part of the system).
func CheckQueries(queries []Query, set PromSet, only func(metric string) bool) []string {
	var problems []string
	for _, q := range queries {
		metrics, labels := PromQLNames(GrafanaVars.Replace(q.Expr))
		if len(metrics) == 0 {
			problems = append(problems, fmt.Sprintf("%s: found no metric name in %q", q.Where, q.Expr))
		}
		checked := false
		for _, m := range metrics {
			if only != nil && !only(m) {
				continue
			}
			checked = true
			if !set.Metrics[m] {
				problems = append(problems, fmt.Sprintf("%s: metric %s is not exported", q.Where, m))
			}
		}
		if !checked {
			continue // the labels belong to metrics this run does not cover
		}
		for _, l := range labels {
			if !set.Labels[l] {
				problems = append(problems, fmt.Sprintf("%s: label %s is on no exported metric", q.Where, l))
			}
		}
	}
	return problems
}
