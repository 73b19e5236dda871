// Package profiler serves Go's profiler on its own listener, for wallet-api and the relay alike.
package profiler

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"
)

// Start serves /debug/pprof on addr (for example 127.0.0.1:6060) when addr is set, on its own listener so it is
// never reachable through the process's public port. Off when addr is empty (DEBUG_ADDR unset); meant for
// loopback or a port-forward.
func Start(addr string) {
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		slog.Info("profiler listening", "addr", addr)
		if err := srv.ListenAndServe(); err != nil {
			slog.Error("profiler stopped", "error", err)
		}
	}()
}
