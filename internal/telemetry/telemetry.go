package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/log/global"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// Defaults chosen so that a collector that is down or hangs costs a bounded amount of memory and never holds a
// request: the SDK batches on its own goroutines, each HTTP export gives up after exportTimeout, and the retry loop
// gives up after retryBudget (the OTLP exporter default is a full minute, during which the queue would only fill).
const (
	exportTimeout       = 5 * time.Second
	retryBudget         = 10 * time.Second
	defaultQueueSize    = 2048
	defaultMetricPeriod = 15 * time.Second
)

// Telemetry owns the SDK providers that Setup installed globally; Shutdown flushes and stops them.
type Telemetry struct {
	// Logger writes JSON to stderr and, unless the SDK is disabled, OTLP log records. Setup also makes it slog's default.
	Logger *slog.Logger

	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	lp       *sdklog.LoggerProvider
	drops    *dropCounter
	disabled bool
	// stderrLog reports on telemetry itself; it never feeds back into OTLP.
	stderrLog *slog.Logger
	shutdown  sync.Once
}

// Option adjusts Setup.
type Option func(*settings)

type settings struct {
	stderr io.Writer
	level  slog.Leveler
}

// WithLogWriter sends the JSON log stream somewhere other than os.Stderr (tests read it back).
func WithLogWriter(w io.Writer) Option { return func(s *settings) { s.stderr = w } }

// WithLogLevel overrides LOG_LEVEL.
func WithLogLevel(l slog.Leveler) Option { return func(s *settings) { s.level = l } }

// Start is how a process's main sets telemetry up: a JSON log on stderr first, then Setup. A failed Setup (a
// malformed OTEL_* setting) is logged and the process goes on with the stderr log alone, since no process should
// refuse to start over its telemetry. main defers the returned flush, which gives the exporters 5 s to send what
// they hold.
func Start(ctx context.Context, serviceName string) (flush func()) {
	slog.SetDefault(slog.New(newRequestIDHandler(slog.NewJSONHandler(os.Stderr, nil))))
	tel, err := Setup(ctx, serviceName)
	if err != nil {
		slog.Error("telemetry disabled", "error", err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
	}
}

// Setup installs the global tracer, meter and logger providers exporting OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT
// (default http://localhost:4318), the W3C tracecontext+baggage propagator, and a default slog logger that writes
// JSON to stderr and OTLP at once. serviceName is used unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names the
// service. The standard variables are honoured as the specification says: OTEL_SDK_DISABLED=true installs nothing
// but the stderr logger; OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*, OTEL_BLRP_*, OTEL_METRIC_EXPORT_*, OTEL_EXPORTER_OTLP_*
// are read by the SDK and the exporters themselves.
//
// Setup never dials the collector, so it cannot block start-up; call Shutdown with a deadline before exit.
func Setup(ctx context.Context, serviceName string, opts ...Option) (*Telemetry, error) {
	s := settings{stderr: os.Stderr, level: levelFromEnv(os.Getenv("LOG_LEVEL"))}
	for _, o := range opts {
		o(&s)
	}
	stderrHandler := newTraceIDHandler(slog.NewJSONHandler(s.stderr, &slog.HandlerOptions{Level: s.level}))
	// The SDK reports export failures through otel.Handle; they go to stderr only (never back into OTLP, which is
	// what failed) and at most once per interval, since a dead collector fails every batch.
	otel.SetErrorHandler(newThrottledErrorHandler(slog.New(stderrHandler), time.Minute))
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	t := &Telemetry{drops: &dropCounter{}, stderrLog: slog.New(stderrHandler)}
	if sdkDisabled() {
		t.disabled = true
		t.Logger = slog.New(newRequestIDHandler(stderrHandler))
		slog.SetDefault(t.Logger)
		return t, nil
	}

	res, err := newResource(ctx, serviceName)
	if err != nil {
		return nil, err
	}

	traceExp, err := otlptracehttp.New(ctx, traceExporterOptions()...)
	if err != nil {
		return nil, fmt.Errorf("create OTLP trace exporter: %w", err)
	}
	spanQueue := envInt("OTEL_BSP_MAX_QUEUE_SIZE", defaultQueueSize)
	bsp := sdktrace.NewBatchSpanProcessor(&countingSpanExporter{next: traceExp, drops: t.drops},
		sdktrace.WithMaxQueueSize(spanQueue))
	t.tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(newBoundedSpanProcessor(bsp, spanQueue, t.drops)),
	)

	metricExp, err := otlpmetrichttp.New(ctx, metricExporterOptions()...)
	if err != nil {
		return nil, fmt.Errorf("create OTLP metric exporter: %w", err)
	}
	var readerOpts []sdkmetric.PeriodicReaderOption
	if os.Getenv("OTEL_METRIC_EXPORT_INTERVAL") == "" {
		readerOpts = append(readerOpts, sdkmetric.WithInterval(defaultMetricPeriod))
	}
	if os.Getenv("OTEL_METRIC_EXPORT_TIMEOUT") == "" {
		readerOpts = append(readerOpts, sdkmetric.WithTimeout(exportTimeout+retryBudget))
	}
	t.mp = sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(&countingMetricExporter{Exporter: metricExp, drops: t.drops}, readerOpts...)),
	)

	logExp, err := otlploghttp.New(ctx, logExporterOptions()...)
	if err != nil {
		return nil, fmt.Errorf("create OTLP log exporter: %w", err)
	}
	logQueue := envInt("OTEL_BLRP_MAX_QUEUE_SIZE", defaultQueueSize)
	blp := sdklog.NewBatchProcessor(&countingLogExporter{next: logExp, drops: t.drops}, sdklog.WithMaxQueueSize(logQueue))
	t.lp = sdklog.NewLoggerProvider(
		sdklog.WithResource(res),
		sdklog.WithProcessor(newBoundedLogProcessor(blp, logQueue, t.drops)),
	)

	otel.SetTracerProvider(t.tp)
	otel.SetMeterProvider(t.mp)
	global.SetLoggerProvider(t.lp)
	if err := bindInstruments(t.mp.Meter(meterName)); err != nil {
		return nil, err
	}
	if err := t.drops.register(t.mp.Meter(meterName)); err != nil {
		return nil, err
	}

	otlpHandler := otelslog.NewHandler(meterName, otelslog.WithLoggerProvider(t.lp))
	t.Logger = slog.New(newRequestIDHandler(newFanoutHandler(s.level, stderrHandler, otlpHandler)))
	slog.SetDefault(t.Logger)
	return t, nil
}

// Shutdown flushes what is queued and stops the providers. It returns when done or when ctx expires, whichever is
// first: a hung collector costs at most the caller's deadline. The count of dropped telemetry goes to stderr.
// Calls after the first do nothing.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil || t.disabled {
		return nil
	}
	var err error
	t.shutdown.Do(func() { err = t.shutdownProviders(ctx) })
	return err
}

func (t *Telemetry) shutdownProviders(ctx context.Context) error {
	var errs []error
	// Traces and logs first, side by side: one after the other, a hung collector could spend the whole deadline on
	// traces, and the logger provider, handed an expired context, skips stopping its batch processor, whose goroutine
	// then runs for good (the tests' leak check caught it). Each provider stops its processors before it waits.
	var tpErr, lpErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); tpErr = t.tp.Shutdown(ctx) }()
	go func() { defer wg.Done(); lpErr = t.lp.Shutdown(ctx) }()
	wg.Wait()
	if tpErr != nil {
		errs = append(errs, fmt.Errorf("shutdown tracer provider: %w", tpErr))
	}
	if lpErr != nil {
		errs = append(errs, fmt.Errorf("shutdown logger provider: %w", lpErr))
	}
	// Metrics last, so their final flush carries the drop counts; the meter provider stops its reader whatever ctx.
	if err := t.mp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("shutdown meter provider: %w", err))
	}
	// What is still waiting for an exporter after shutdown (the deadline expired) is lost too.
	t.drops.spansQueue.Add(t.drops.spansPending.Swap(0))
	t.drops.logsQueue.Add(t.drops.logsPending.Swap(0))
	if d := t.drops.snapshot(); d.Total() > 0 {
		t.stderrLog.Warn("telemetry dropped", "spans", d.Spans, "logs", d.Logs, "metric_streams", d.Metrics)
	}
	return errors.Join(errs...)
}

// ForceFlush exports everything queued now; tests use it to read what a request produced.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	if t == nil || t.disabled {
		return nil
	}
	return errors.Join(t.tp.ForceFlush(ctx), t.lp.ForceFlush(ctx), t.mp.ForceFlush(ctx))
}

// Dropped reports how many spans, log records and metric streams were lost so far (queue full or export failed).
func (t *Telemetry) Dropped() DropStats { return t.drops.snapshot() }

// Disabled reports whether OTEL_SDK_DISABLED turned the SDK off.
func (t *Telemetry) Disabled() bool { return t.disabled }

func newResource(ctx context.Context, serviceName string) (*resource.Resource, error) {
	// service.instance.id keeps replicas apart: Prometheus' instance label is made from it, and two pods writing the
	// same series would clash. Hostname (the pod name on Kubernetes) plus PID is unique and readable.
	host, _ := os.Hostname()
	base := resource.NewSchemaless(semconv.ServiceName(serviceName),
		semconv.ServiceInstanceID(fmt.Sprintf("%s:%d", host, os.Getpid())))
	// WithFromEnv reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; merging it last lets them win over serviceName.
	env, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost(),
		resource.WithProcessPID(), resource.WithProcessRuntimeName())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("build OTel resource: %w", err)
	}
	if err != nil {
		// A malformed OTEL_RESOURCE_ATTRIBUTES entry is reported and skipped, as the specification asks.
		otel.Handle(fmt.Errorf("OTel resource: %w", err))
	}
	merged, err := resource.Merge(base, env)
	if err != nil {
		// Only a schema URL conflict fails here; the attributes are still usable.
		return resource.NewSchemaless(append(base.Attributes(), env.Attributes()...)...), nil
	}
	return merged, nil
}

// sdkDisabled follows the specification's boolean rule: only "true", in any case, is true.
func sdkDisabled() bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true")
}

func levelFromEnv(v string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(v))); err != nil {
		return slog.LevelInfo
	}
	return l
}

func envInt(name string, def int) int {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil || n <= 0 {
		return def
	}
	return n
}

// endpointFromEnv reports whether the OTLP endpoint for signal is configured. When it is not, the exporters'
// built-in default is https://localhost:4318, whereas the specification (and our contract) says http://.
func endpointFromEnv(signal string) bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// timeoutFromEnv reports whether an export timeout is configured; explicit options would override it.
func timeoutFromEnv(signal string) bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_TIMEOUT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_TIMEOUT") != ""
}

func traceExporterOptions() []otlptracehttp.Option {
	opts := []otlptracehttp.Option{otlptracehttp.WithRetry(otlptracehttp.RetryConfig{
		Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 2 * time.Second, MaxElapsedTime: retryBudget,
	})}
	if !endpointFromEnv("TRACES") {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if !timeoutFromEnv("TRACES") {
		opts = append(opts, otlptracehttp.WithTimeout(exportTimeout))
	}
	return opts
}

func metricExporterOptions() []otlpmetrichttp.Option {
	opts := []otlpmetrichttp.Option{otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{
		Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 2 * time.Second, MaxElapsedTime: retryBudget,
	})}
	if !endpointFromEnv("METRICS") {
		opts = append(opts, otlpmetrichttp.WithInsecure())
	}
	if !timeoutFromEnv("METRICS") {
		opts = append(opts, otlpmetrichttp.WithTimeout(exportTimeout))
	}
	return opts
}

func logExporterOptions() []otlploghttp.Option {
	opts := []otlploghttp.Option{otlploghttp.WithRetry(otlploghttp.RetryConfig{
		Enabled: true, InitialInterval: 500 * time.Millisecond, MaxInterval: 2 * time.Second, MaxElapsedTime: retryBudget,
	})}
	if !endpointFromEnv("LOGS") {
		opts = append(opts, otlploghttp.WithInsecure())
	}
	if !timeoutFromEnv("LOGS") {
		opts = append(opts, otlploghttp.WithTimeout(exportTimeout))
	}
	return opts
}
