package load

import (
	"fmt"
	"net"
	"net/url"
)

// IsLoopbackURL reports whether an http(s) URL points at this machine
// (127.0.0.0/8, ::1 or localhost). The suites refuse anything else.
func IsLoopbackURL(raw string) (bool, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return false, fmt.Errorf("parse URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return false, fmt.Errorf("URL %q: scheme must be http or https", raw)
	}
	return isLoopbackHost(u.Hostname()), nil
}

// IsLoopbackAddr reports whether a host:port address is on this machine.
func IsLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("parse address %q: %w", addr, err)
	}
	return isLoopbackHost(host), nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
