package load

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/migrations"
)

// pgCluster is a throwaway PostgreSQL server of the test's own, so a test
// can crash it (pg_ctl stop -m immediate) without touching the shared server
// every other package's tests are using at the same moment.
type pgCluster struct {
	t      *testing.T
	bin    string
	dir    string
	port   int
	asUser bool // initdb and postgres refuse to run as root: run them as "postgres"
}

func pgBinDir(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real) // e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	t.Fatalf("no PostgreSQL server binaries (initdb) found; scripts/bootstrap_db.sh installs them")
	return ""
}

func pgMajor(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	c := &pgCluster{t: t, bin: pgBinDir(t), asUser: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "loadgen-pg-")
	require.NoError(t, err)
	c.dir = dir
	port := freePort(t)
	c.port, err = strconv.Atoi(port[strings.LastIndexByte(port, ':')+1:])
	require.NoError(t, err)
	if c.asUser {
		out, err := exec.Command("chown", "postgres", dir).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	t.Cleanup(func() {
		_ = c.pgctl("stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	require.NoError(t, c.run(filepath.Join(c.bin, "initdb"), "-D", c.data(), "-A", "trust", "-U", "postgres", "--no-sync"))
	require.NoError(t, c.start(context.Background()))
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// run executes a PostgreSQL tool, as the postgres user when the test is root.
func (c *pgCluster) run(tool string, args ...string) error {
	var cmd *exec.Cmd
	if c.asUser {
		q := []string{shellQuote(tool)}
		for _, a := range args {
			q = append(q, shellQuote(a))
		}
		cmd = exec.Command("su", "postgres", "-s", "/bin/sh", "-c", strings.Join(q, " "))
	} else {
		cmd = exec.Command(tool, args...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %w\n%s", filepath.Base(tool), args, err, out)
	}
	return nil
}

func (c *pgCluster) pgctl(args ...string) error {
	return c.run(filepath.Join(c.bin, "pg_ctl"), append([]string{"-D", c.data()}, args...)...)
}

// start starts the server and waits until it accepts connections.
func (c *pgCluster) start(context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=60", c.port, c.dir)
	return c.pgctl("-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "30", "start")
}

// crash is `pg_ctl stop -m immediate`: every backend dies at once, no
// checkpoint, crash recovery at the next start.
func (c *pgCluster) crash(context.Context) error { return c.pgctl("-m", "immediate", "stop") }

// newDatabase creates and migrates a database on the cluster.
func (c *pgCluster) newDatabase(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	conn.Close(ctx)
	require.NoError(t, err)
	u := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
	require.NoError(t, migrations.Apply(ctx, u))
	return u
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
