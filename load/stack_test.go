package load

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/api/apitest"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// The stack tests run the load generator against the real wallet-api binary
// on a fresh database: the in-suite counterparts of `make load` and
// `make resiliency`.

const testSecret = "loadgen-test-secret"

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds wallet-api once per test binary: the stack tests run the
// real process, so a SIGKILL or a lost connection is the real thing.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "loadgen-bin-")
		if buildErr != nil {
			return
		}
		for _, c := range []string{"wallet-api"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, c), "../cmd/"+c).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", c, err, out)
				return
			}
		}
	})
	require.NoError(t, buildErr)
	return binDir
}

// freshDB makes a new, migrated database through the shared helper; it is
// dropped when the test ends.
func freshDB(t *testing.T) string {
	t.Helper()
	return pgtest.NewDatabase(t, migrations.Apply)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// apiProc is one wallet-api process on a fixed address, restartable on the
// same address so a client sees the same server come back.
type apiProc struct {
	t    *testing.T
	bin  string
	addr string
	env  []string
	logs *lockedWriter

	mu  sync.Mutex
	cmd *exec.Cmd
}

// startAPI runs wallet-api against dbURL and waits until it is ready.
func startAPI(t *testing.T, bin, dbURL string, extraEnv ...string) string {
	return newAPI(t, bin, dbURL, extraEnv...).base()
}

func newAPI(t *testing.T, bin, dbURL string, extraEnv ...string) *apiProc {
	t.Helper()
	p := &apiProc{t: t, bin: bin, addr: freePort(t), logs: &lockedWriter{w: &strings.Builder{}}}
	// The load generator is one caller far over the default per-caller rate limit; these tests measure the ledger.
	p.env = append(os.Environ(), "DATABASE_URL="+dbURL, "HTTP_ADDR="+p.addr, "JWT_SECRET="+testSecret,
		"LOG_LEVEL=warn", "OTEL_SDK_DISABLED=true", "RATE_LIMIT_RPS=1000000", "RATE_LIMIT_BURST=1000000")
	p.env = append(p.env, extraEnv...)
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("wallet-api output:\n%s", lastLines(p.logs.String(), 40))
		}
	})
	require.NoError(t, p.start(context.Background()))
	return p
}

func (p *apiProc) base() string { return "http://" + p.addr }

// start launches the process and waits until /v1/ready answers 200.
func (p *apiProc) start(ctx context.Context) error {
	cmd := exec.Command(filepath.Join(p.bin, "wallet-api"))
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.Env = p.env
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start wallet-api: %w", err)
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := contractClient(p.t).Get(p.base() + "/v1/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("wallet-api not ready after 30s: %v\n%s", err, lastLines(p.logs.String(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL: no graceful shutdown, in-flight requests are cut.
func (p *apiProc) kill() {
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	p.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// shrink keeps a shipped scenario's shape but makes it fit in a test.
func shrink(t *testing.T, name string, d time.Duration, wallets int) *Scenario {
	t.Helper()
	f, err := LoadFile("data/scenarios.json")
	require.NoError(t, err)
	sc, err := f.Get(name)
	require.NoError(t, err)
	sc.ScaleDuration(d)
	sc.Population.Wallets = wallets
	sc.Population.HotWallets = min(sc.Population.HotWallets, wallets/2)
	require.NoError(t, sc.Validate())
	return sc
}

func runReport(t *testing.T, cfg RunConfig) *Report {
	t.Helper()
	var out strings.Builder
	cfg.Out = &out
	cfg.Tokens = TokenConfig{Secret: testSecret, Audience: "agentic-commerce"}
	cfg.Wrap = contract(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	require.NoError(t, err, "%s", out.String())
	rep.Print(&out)
	t.Log("\n" + out.String())
	return rep
}

// contract wraps a transport so that every exchange through it is checked against api/openapi.yaml, failing t on
// any drift: the load runs are integration tests of the real API like the black-box suite's.
func contract(t *testing.T) func(http.RoundTripper) http.RoundTripper {
	return func(base http.RoundTripper) http.RoundTripper { return apitest.NewTransport(t, base) }
}

// contractClient is an HTTP client whose exchanges are checked against the document.
func contractClient(t *testing.T) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: contract(t)(http.DefaultTransport)}
}

func pgAddr(t *testing.T) string {
	t.Helper()
	server, err := pgtest.ServerURL()
	require.NoError(t, err)
	u, err := url.Parse(server)
	require.NoError(t, err)
	host := u.Host
	if !strings.Contains(host, ":") {
		host += ":5432"
	}
	return host
}

func replaceHost(t *testing.T, dbURL, host string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.Host = host
	return u.String()
}
