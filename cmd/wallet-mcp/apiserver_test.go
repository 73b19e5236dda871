package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/api/apitest"
	"github.com/agentic-commerce/wallet-ledger/internal/auth"
	"github.com/agentic-commerce/wallet-ledger/internal/config"
	"github.com/agentic-commerce/wallet-ledger/internal/pgtest"
	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// The MCP server is tested against the real wallet-api binary on a real, freshly migrated database: the agent's
// tool calls go all the way to PostgreSQL.

func TestMain(m *testing.M) {
	code := pgtest.Main(m, migrations.Apply)
	if apiBinary != "" {
		_ = os.RemoveAll(filepath.Dir(apiBinary)) // the wallet-api walletAPIBinary built
	}
	os.Exit(code)
}

const testSecret = "mcp-test-secret-0123456789abcdef"

var (
	buildOnce sync.Once
	apiBinary string
	buildErr  error
)

// walletAPIBinary builds cmd/wallet-api once per test run.
func walletAPIBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wallet-mcp-test")
		if err != nil {
			buildErr = err
			return
		}
		apiBinary = filepath.Join(dir, "wallet-api")
		out, err := exec.Command(goTool(), "build", "-o", apiBinary, "github.com/agentic-commerce/wallet-ledger/cmd/wallet-api").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build wallet-api: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return apiBinary
}

// goTool is the go command of the toolchain running the tests, else whichever go is on PATH.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// startWalletAPI runs the wallet-api binary on the package database and returns its base URL once it is ready.
func startWalletAPI(t *testing.T) string {
	t.Helper()
	bin := walletAPIBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+pgtest.URL(t), "JWT_SECRET="+testSecret, "HTTP_ADDR="+addr,
		"OTEL_SDK_DISABLED=true", "LOG_LEVEL=warn")
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	base := "http://" + addr
	ready := &http.Client{Transport: apitest.NewTransport(t, nil), Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := ready.Get(base + "/v1/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		require.True(t, time.Now().Before(deadline), "wallet-api never became ready: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
}

func mint(t *testing.T, sub string, scopes ...string) string {
	t.Helper()
	tok, err := auth.Mint(testSecret, config.DefaultJWTAudience, sub, scopes, time.Hour)
	require.NoError(t, err)
	return tok
}

func bg() context.Context { return context.Background() }
