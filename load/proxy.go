package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// ProxyMode is how a Proxy treats traffic.
type ProxyMode string

// Proxy modes. Reset is a link that fails loudly (connections are closed,
// new ones are refused at once); Blackhole is a partition that fails
// silently (bytes vanish, nothing answers), which is what exercises the
// API's timeouts.
const (
	ProxyUp        ProxyMode = "up"
	ProxyReset     ProxyMode = "reset"
	ProxyBlackhole ProxyMode = "blackhole"
)

// Proxy is a TCP proxy whose link can be cut and healed, used to put a
// network partition between the API and PostgreSQL without touching the
// shared database server.
type Proxy struct {
	upstream string
	ln       net.Listener

	mu    sync.Mutex
	mode  ProxyMode
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy listens on listen (use 127.0.0.1:0 for a free port) and forwards
// to upstream.
func NewProxy(listen, upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("proxy listen %s: %w", listen, err)
	}
	p := &Proxy{upstream: upstream, ln: ln, mode: ProxyUp, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Mode returns the current mode.
func (p *Proxy) Mode() ProxyMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Set switches the link. Leaving Up closes every open connection: in reset
// mode that is the fault itself; in blackhole mode the next step, Heal,
// closes them so the client's pool reconnects instead of waiting on a
// stream whose bytes were dropped.
func (p *Proxy) Set(m ProxyMode) error {
	switch m {
	case ProxyUp, ProxyReset, ProxyBlackhole:
	default:
		return fmt.Errorf("unknown proxy mode %q", m)
	}
	p.mu.Lock()
	prev := p.mode
	p.mode = m
	var victims []net.Conn
	if m == ProxyReset || (m == ProxyUp && prev == ProxyBlackhole) {
		for c := range p.conns {
			victims = append(victims, c)
		}
	}
	p.mu.Unlock()
	for _, c := range victims {
		_ = c.Close()
	}
	return nil
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // listener closed
		}
		switch p.Mode() {
		case ProxyReset:
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	p.track(client, true)
	defer p.track(client, false)
	defer client.Close()
	if p.Mode() == ProxyBlackhole {
		// Accept and say nothing, like a peer behind a dropped route.
		_, _ = io.Copy(io.Discard, client)
		return
	}
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		return
	}
	p.track(up, true)
	defer p.track(up, false)
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, client); done <- struct{}{} }()
	go func() { p.pipe(client, up); done <- struct{}{} }()
	<-done
}

// pipe copies src to dst until either side closes; while the link is
// blackholed it keeps reading and drops what it reads.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.Mode() != ProxyBlackhole {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// ControlHandler serves POST /up, /reset, /blackhole and GET /mode so a
// shell script can drive a proxy running in another process.
func (p *Proxy) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	for _, m := range []ProxyMode{ProxyUp, ProxyReset, ProxyBlackhole} {
		mux.HandleFunc("POST /"+string(m), func(w http.ResponseWriter, _ *http.Request) {
			if err := p.Set(m); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintln(w, m)
		})
	}
	mux.HandleFunc("GET /mode", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, p.Mode()) })
	return mux
}

// ServeProxy runs a proxy and its control server until ctx ends.
func ServeProxy(ctx context.Context, listen, upstream, control string, out io.Writer) error {
	p, err := NewProxy(listen, upstream)
	if err != nil {
		return err
	}
	defer p.Close()
	srv := &http.Server{Addr: control, Handler: p.ControlHandler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Fprintf(out, "proxy %s -> %s, control on http://%s\n", p.Addr(), upstream, control)
	select {
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("proxy control server: %w", err)
	}
}
