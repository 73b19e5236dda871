package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// maxURLLength bounds an endpoint URL.
const maxURLLength = 2048

// Policy decides which URLs an endpoint may have and which addresses a delivery may connect to. Without
// AllowInsecure only https:// URLs are accepted, and only public addresses: a URL is checked when the endpoint is
// created (after DNS resolution) and every delivery's connection is checked again after its own resolution, so a
// name that later resolves to an internal address (DNS rebinding) reaches nothing.
type Policy struct {
	// AllowInsecure (WEBHOOK_ALLOW_INSECURE=1, for local development only) allows http:// and every address.
	AllowInsecure bool
	// Resolver resolves host names when an endpoint is created; nil uses net.DefaultResolver.
	Resolver *net.Resolver
}

// deniedPrefixes are ranges beyond what netip classifies that no webhook may reach: shared address space (CGNAT,
// where some clouds put metadata services), IETF protocol assignments, documentation and benchmarking ranges,
// reserved space, and IPv6 prefixes that embed or translate IPv4 (NAT64, 6to4), which could lead to an internal
// IPv4 address.
var deniedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
		"2001:db8::/32", "2002::/16", "fec0::/10"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// refusal names why addr may not be reached, or "" when it may.
func refusal(addr netip.Addr) string {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return "not an address"
	case addr.IsLoopback():
		return "a loopback address"
	case addr.IsUnspecified():
		return "the unspecified address"
	case addr.IsPrivate():
		return "a private address"
	case addr.IsLinkLocalUnicast():
		return "a link-local address (where cloud metadata services live)"
	case addr.IsMulticast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast():
		return "a multicast address"
	case !addr.IsGlobalUnicast():
		return "not a public unicast address"
	}
	for _, p := range deniedPrefixes {
		if p.Contains(addr) {
			return "a reserved or internal address (" + p.String() + ")"
		}
	}
	return ""
}

// AddressAllowed reports whether a delivery may connect to addr under the strict policy.
func AddressAllowed(addr netip.Addr) bool { return refusal(addr) == "" }

func notAllowed(format string, args ...any) error {
	return ErrURLNotAllowed.Withf(format, args...)
}

// ParseURL checks an endpoint URL's form: absolute, https (or http when insecure URLs are allowed), with a host,
// without credentials or a fragment, at most 2048 bytes.
func (p Policy) ParseURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLLength {
		return nil, notAllowed("the URL must be at most %d bytes", maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return nil, notAllowed("the URL must be absolute, such as https://example.com/webhooks")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowInsecure:
	case u.Scheme == "http":
		return nil, notAllowed("the URL must use https://")
	default:
		return nil, notAllowed("the URL must use https://, not %s://", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, notAllowed("the URL has no host")
	}
	if u.User != nil {
		return nil, notAllowed("the URL must not carry credentials; receivers authenticate deliveries by their signature")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, notAllowed("the URL must not have a fragment")
	}
	return u, nil
}

// CheckURL resolves u's host and refuses it when any address it resolves to is not public (nothing is checked
// when insecure URLs are allowed). A host that does not resolve is refused too: fail closed.
func (p Policy) CheckURL(ctx context.Context, u *url.URL) error {
	if p.AllowInsecure {
		return nil
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		if why := refusal(addr); why != "" {
			return notAllowed("%s is %s", host, why)
		}
		return nil
	}
	resolver := p.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return notAllowed("%s does not resolve", host)
	}
	for _, a := range addrs {
		if why := refusal(a); why != "" {
			return notAllowed("%s resolves to %s, %s", host, a.Unmap(), why)
		}
	}
	return nil
}

// ErrAddressNotAllowed is the dial error of a delivery to a refused address.
var ErrAddressNotAllowed = errors.New("webhook: address not allowed")

// control is the net.Dialer Control of deliveries: it runs after DNS resolution, on the address about to be
// connected, so it also catches a name that resolved to a public address at creation and to an internal one now.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s is not an address", ErrAddressNotAllowed, address)
	}
	if why := refusal(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrAddressNotAllowed, ap.Addr(), why)
	}
	return nil
}

// Client returns the HTTP client of deliveries: each request bounded by timeout, no proxy from the environment
// (it would bypass the address check), no redirect followed (a 3xx is the answer, and a failure), at most perHost
// connections to one host, and under the strict policy a dialer that refuses non-public addresses.
func (p Policy) Client(timeout time.Duration, perHost int) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !p.AllowInsecure {
		dialer.Control = control
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   perHost,
		MaxConnsPerHost:       perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport:     transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// SchemeAllowed reports whether a delivery may go to u's scheme now: an endpoint created while insecure URLs were
// allowed gets nothing over http:// once they are not.
func (p Policy) SchemeAllowed(u *url.URL) bool {
	return u.Scheme == "https" || (u.Scheme == "http" && p.AllowInsecure)
}
