package main

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// serveDebug starts Go's profiler on DEBUG_ADDR when it is set (for example 127.0.0.1:6060), on its own listener
// so it is never reachable through the API's port. Off by default; meant for loopback or a port-forward.
func serveDebug() {
	addr := os.Getenv("DEBUG_ADDR")
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
