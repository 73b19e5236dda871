// Command loadgen runs a named load scenario from load/data/scenarios.json
// against a wallet API, prints and stores a report, and exits non-zero when a
// threshold or a ledger invariant is missed. `loadgen proxy` runs the TCP
// proxy the resiliency suite cuts between the API and PostgreSQL.
//
//	loadgen run -scenario baseline [-base-url URL] [-reports load/reports]
//	loadgen run -scenario resiliency_partition -fault proxy-reset -proxy-control http://127.0.0.1:18474
//	loadgen run -scenario resiliency_partition -fault pg-stop -fault-inject "CMD" -fault-heal "CMD"
//	loadgen proxy -listen 127.0.0.1:15432 -upstream 127.0.0.1:5432 -control 127.0.0.1:18474
//	loadgen list
//	loadgen stream -stream WALLET_LOAD -database-url URL [-nats-url URL] [-purge]
//
// Exit status: 0 pass, 1 a threshold or invariant failed, 2 the run could not be carried out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/agentic-commerce/wallet-ledger/load"
)

const usage = `usage: loadgen <command> [flags]

  run -scenario NAME [-base-url URL] [-database-url URL] [-duration D] [-rate R] [-reports DIR]   run a profile
                                                     (loopback only unless LOADGEN_ALLOW_REMOTE=1); exit 0 pass,
                                                     1 fail, 2 could not run
  run -scenario resiliency_partition -fault proxy-reset|proxy-blackhole|NAME [-fault-inject CMD -fault-heal CMD]
  proxy -listen ADDR -upstream ADDR -control ADDR    the cuttable TCP proxy the resiliency suite uses
  list                                               the profiles in load/data/scenarios.json
  stream -stream NAME -database-url URL [-nats-url URL]   every outbox event in the JetStream stream exactly once;
                                                     exit 0 yes, 1 no, 2 could not check
  stream -stream NAME -purge [-nats-url URL]         empty the stream (before a relay starts on a fresh database)

run -h lists every flag.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// run carries out one command and returns the exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 {
		// A load run is never started by accident: it writes to whatever database the API at BASE_URL uses.
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd := "run"
	if !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	code := 2
	switch cmd {
	case "run":
		code, err = runCmd(ctx, args)
	case "proxy":
		err = proxyCmd(ctx, args)
	case "list":
		err = listCmd(args)
	case "stream":
		code, err = streamCmd(ctx, args)
	case "help", "-h", "--help":
		fmt.Fprint(stderr, usage)
		return 0
	default:
		err = fmt.Errorf("unknown command %q (run, proxy, list, stream)", cmd)
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	return code
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func runCmd(ctx context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	scenarios := fs.String("scenarios", env("LOADGEN_SCENARIOS", "load/data/scenarios.json"), "scenarios file")
	name := fs.String("scenario", "smoke", "scenario name")
	baseURL := fs.String("base-url", env("BASE_URL", "http://127.0.0.1:8080"), "wallet API base URL")
	reports := fs.String("reports", env("LOADGEN_REPORTS", "load/reports"), "directory for JSON reports and HTML plots")
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL for ledger-wide invariant checks (empty: API checks only)")
	duration := fs.Duration("duration", 0, "stretch or shrink the scenario to this total duration")
	rate := fs.Int("rate", 0, "run the busiest stage at this many requests/s and scale the others alike (0: the scenario's rates)")
	skipSeed := fs.Bool("skip-seed", false, "do not seed the population first (it must exist)")
	fault := fs.String("fault", "", "fault to inject: proxy-reset, proxy-blackhole, or any name with -fault-inject/-fault-heal")
	proxyCtl := fs.String("proxy-control", env("LOADGEN_PROXY_CONTROL", "http://127.0.0.1:18474"), "control URL of `loadgen proxy`")
	injectCmd := fs.String("fault-inject", "", "shell command that injects the fault")
	healCmd := fs.String("fault-heal", "", "shell command that heals the fault")
	transportOK := fs.Bool("fault-transport-errors", false, "accept refused connections during the fault (the fault kills the API itself)")
	seed := fs.Uint64("seed", 0, "random seed of the operation mix (0: time-based)")
	procs := fs.Int("procs", 1, "OS threads running Go code in the generator (GOMAXPROCS); 0: one per core")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if *procs < 0 || *procs > runtime.NumCPU() {
		return 2, fmt.Errorf("-procs must be from 0 to %d (this machine's cores), not %d", runtime.NumCPU(), *procs)
	}
	if *procs > 0 {
		// The generator shares the machine with the server it measures. With one P it needs about a quarter less
		// CPU than with two (no idle Ps spinning to steal work, fewer thread wake-ups), which is CPU left to the
		// API and PostgreSQL; being constant-rate, any delay of its own still shows in the latencies it reports.
		runtime.GOMAXPROCS(*procs)
	}
	if err := loopbackOnly(*baseURL); err != nil {
		return 2, err
	}
	f, err := load.LoadFile(*scenarios)
	if err != nil {
		return 2, err
	}
	sc, err := f.Get(*name)
	if err != nil {
		return 2, err
	}
	if *rate < 0 || *duration < 0 {
		return 2, fmt.Errorf("-rate and -duration must not be negative, not %d and %s", *rate, *duration)
	}
	if *duration > 0 || *rate > 0 {
		sc.ScaleDuration(*duration)
		sc.ScaleRate(*rate)
		if err := sc.Validate(); err != nil {
			return 2, fmt.Errorf("scenario %s at -duration %s -rate %d: %w", sc.Name, *duration, *rate, err)
		}
	}
	cfg := load.RunConfig{
		BaseURL: *baseURL, Scenario: sc, DatabaseURL: *dbURL, SkipSeed: *skipSeed, Out: os.Stdout, Seed: *seed,
		Tokens: load.TokenConfig{Secret: env("JWT_SECRET", "dev-secret-change-me"), Audience: env("JWT_AUDIENCE", "agentic-commerce")},
	}
	if *fault != "" {
		cfg.Fault, err = faultPlan(*fault, *proxyCtl, *injectCmd, *healCmd, *transportOK)
		if err != nil {
			return 2, err
		}
	}
	rep, err := load.Run(ctx, cfg)
	if err != nil {
		return 2, err
	}
	rep.Print(os.Stdout)
	path, err := rep.Write(*reports)
	if err != nil {
		return 2, err
	}
	fmt.Printf("report: %s (plot: %s)\n", path, strings.TrimSuffix(path, ".json")+".html")
	if !rep.Passed {
		return 1, nil
	}
	return 0, nil
}

// loopbackOnly keeps load on this machine: the suites must never aim
// traffic anywhere else. LOADGEN_ALLOW_REMOTE=1 lifts it for a real cluster.
func loopbackOnly(base string) error {
	if os.Getenv("LOADGEN_ALLOW_REMOTE") == "1" {
		return nil
	}
	if ok, err := load.IsLoopbackURL(base); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("base URL %s is not a loopback address; set LOADGEN_ALLOW_REMOTE=1 to load a cluster you own", base)
	}
	return nil
}

func faultPlan(name, proxyCtl, inject, heal string, transportOK bool) (*load.FaultPlan, error) {
	switch name {
	case "proxy-reset", "proxy-blackhole":
		mode := strings.TrimPrefix(name, "proxy-")
		return &load.FaultPlan{Name: name,
			Inject: func(ctx context.Context) error { return post(ctx, proxyCtl+"/"+mode) },
			Heal:   func(ctx context.Context) error { return post(ctx, proxyCtl+"/up") },
		}, nil
	}
	if inject == "" || heal == "" {
		return nil, errors.New("a fault other than proxy-* needs -fault-inject and -fault-heal")
	}
	return &load.FaultPlan{Name: name, AllowTransportErrors: transportOK,
		Inject: func(ctx context.Context) error { return shell(ctx, inject) },
		Heal:   func(ctx context.Context) error { return shell(ctx, heal) },
	}, nil
}

func post(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return fmt.Errorf("build %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: status %d", url, resp.StatusCode)
	}
	return nil
}

func shell(ctx context.Context, command string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", "-c", command)
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("run %q: %w", command, err)
	}
	return nil
}

func proxyCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:15432", "address the API connects to")
	upstream := fs.String("upstream", "127.0.0.1:5432", "PostgreSQL address")
	control := fs.String("control", "127.0.0.1:18474", "control HTTP address (POST /up, /reset, /blackhole)")
	lifetime := fs.Duration("for", time.Hour, "exit after this long, so a forgotten proxy does not linger")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, a := range []string{*listen, *upstream, *control} {
		if ok, err := load.IsLoopbackAddr(a); err != nil || !ok {
			return fmt.Errorf("proxy address %s must be on the loopback interface", a)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()
	return load.ServeProxy(ctx, *listen, *upstream, *control, os.Stdout)
}

func listCmd(args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	scenarios := fs.String("scenarios", env("LOADGEN_SCENARIOS", "load/data/scenarios.json"), "scenarios file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := load.LoadFile(*scenarios)
	if err != nil {
		return err
	}
	for _, n := range f.Names() {
		sc := f.Scenarios[n]
		fmt.Printf("%-22s %6s  ~%.0f requests  %s\n", n, sc.TotalDuration(), sc.ExpectedRequests(), sc.Description)
	}
	return nil
}

// streamCmd checks that the relay delivered every outbox event to the JetStream stream exactly once (the load
// suite runs it after each profile's backlog drained), or empties the stream first.
func streamCmd(ctx context.Context, args []string) (int, error) {
	fs := flag.NewFlagSet("stream", flag.ContinueOnError)
	stream := fs.String("stream", "", "JetStream stream the relay publishes to")
	natsURL := fs.String("nats-url", env("NATS_URL", "nats://127.0.0.1:4222"), "NATS server")
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "the ledger's PostgreSQL URL")
	purge := fs.Bool("purge", false, "empty the stream instead of checking it")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if *stream == "" || fs.NArg() > 0 {
		return 2, errors.New("stream: want -stream NAME and flags only")
	}
	if *purge {
		return 0, load.PurgeStream(ctx, *natsURL, *stream)
	}
	if *dbURL == "" {
		return 2, errors.New("stream: -database-url (or DATABASE_URL) is required")
	}
	r, err := load.CheckStream(ctx, *dbURL, *natsURL, *stream)
	if err != nil {
		return 2, err
	}
	fmt.Printf("stream %s: %s\n", *stream, r)
	if !r.OK() {
		return 1, nil
	}
	return 0, nil
}
