// Package leaktest fails a test binary whose tests leave goroutines running, with go.uber.org/goleak: a leaked
// goroutine is a relay, a pool, a server or a subscriber some test forgot to stop, and in the service the same
// forgetting is a leak. Every test package's TestMain goes through Main (or pgtest.Main, which calls Check).
//
// No goroutine is ignored: each one a library starts is stopped by the code that started it, and a test that
// forgets is what this check is for.
package leaktest

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// settle is how long goroutines the tests have stopped get to finish. An OpenTelemetry batch processor shut down
// with an expired deadline (as the broken-collector tests do on purpose) exits only once its export in flight gives
// up, which its retry budget bounds at about ten seconds. The check returns as soon as nothing is left, so the wait
// costs only a binary that really leaks.
const settle = 20 * time.Second

// Main runs the package's tests, then fails the binary if any goroutine they started is still running.
//
//	func TestMain(m *testing.M) { leaktest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	os.Exit(Check(code))
}

// Check is for a TestMain that has its own set-up and tear-down: call it with m.Run's code once everything the tests
// used is closed. It returns the code to exit with: 1 when goroutines leaked and the tests had passed.
func Check(code int) int {
	if code != 0 {
		return code // the failures already say what went wrong; a test that failed midway may leave work behind
	}
	// Keep-alive connections of the default client to servers the tests already closed end by themselves, but
	// asynchronously; closing them now keeps their read and write loops out of the report. This is not an ignore:
	// a connection still in use is not idle and is reported.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	deadline := time.Now().Add(settle)
	for {
		err := goleak.Find()
		if err == nil {
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "leaktest: the tests left goroutines running: %v\n", err)
			return 1
		}
		time.Sleep(200 * time.Millisecond)
	}
}
