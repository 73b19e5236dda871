package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// refusedURL asserts err is a webhook_url_not_allowed refusal.
func refusedURL(t *testing.T, err error, url string) {
	t.Helper()
	var e *eventstore.Error
	if assert.True(t, errors.As(err, &e), "%s: want a refusal, got %v", url, err) {
		assert.Equal(t, webhook.CodeURLNotAllowed, e.Code, url)
	}
}

func check(p webhook.Policy, raw string) error {
	u, err := p.ParseURL(raw)
	if err != nil {
		return err
	}
	return p.CheckURL(context.Background(), u)
}

func TestStrictPolicyRefusesWhatIsNotPublicHTTPS(t *testing.T) {
	strict := webhook.Policy{}
	for _, raw := range []string{
		"http://example.com/hooks",                  // not https
		"ftp://example.com/hooks",                   // not http at all
		"https://127.0.0.1/hooks",                   // loopback
		"https://127.8.9.10:8443/hooks",             // loopback, any of it
		"https://localhost/hooks",                   // a name that resolves to loopback
		"https://10.0.0.1/hooks",                    // private
		"https://172.16.5.4/hooks",                  // private
		"https://192.168.1.1/hooks",                 // private
		"https://169.254.169.254/latest/meta-data/", // link-local: cloud metadata
		"https://100.100.100.200/",                  // shared address space (a cloud's metadata)
		"https://0.0.0.0/hooks",                     // unspecified
		"https://[::1]/hooks",                       // IPv6 loopback
		"https://[fd00:ec2::254]/hooks",             // IPv6 unique local (a cloud's metadata)
		"https://[fe80::1]/hooks",                   // IPv6 link-local
		"https://[::ffff:127.0.0.1]/hooks",          // IPv4-mapped loopback
		"https://[64:ff9b::a00:1]/hooks",            // NAT64 of 10.0.0.1
		"https://224.0.0.1/hooks",                   // multicast
		"https://user:pass@example.com/hooks",       // credentials
		"https://example.com/hooks#frag",            // fragment
		"/relative/hooks",                           // not absolute
		"https:///hooks",                            // no host
		"https://" + strings.Repeat("a", 2050) + ".com/",
	} {
		refusedURL(t, check(strict, raw), raw)
	}
}

func TestStrictPolicyAcceptsAPublicAddress(t *testing.T) {
	strict := webhook.Policy{}
	for _, raw := range []string{"https://8.8.8.8/hooks", "https://[2606:4700:4700::1111]:8443/hooks?x=1"} {
		assert.NoError(t, check(strict, raw), raw)
	}
}

func TestInsecurePolicyAllowsLocalHTTP(t *testing.T) {
	dev := webhook.Policy{AllowInsecure: true}
	for _, raw := range []string{"http://127.0.0.1:9000/hooks", "http://localhost:9000/", "https://10.0.0.1/"} {
		assert.NoError(t, check(dev, raw), raw)
	}
	refusedURL(t, check(dev, "ftp://127.0.0.1/"), "ftp")
	refusedURL(t, check(dev, "http://u:p@127.0.0.1/"), "credentials")
}

func TestAddressAllowed(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.31.255.255": false, "192.168.0.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "192.0.0.170": false, "198.18.0.1": false, "240.0.0.1": false, "255.255.255.255": false,
		"::": false, "::1": false, "fc00::1": false, "fe80::1": false, "ff02::1": false, "2001:db8::1": false,
		"2002:a00:1::": false, "::ffff:10.0.0.1": false,
	} {
		assert.Equal(t, want, webhook.AddressAllowed(netip.MustParseAddr(addr)), addr)
	}
}

// The delivery client checks the address it is about to connect to, after its own DNS resolution: a URL that
// passed at creation but now leads to loopback (DNS rebinding) reaches nothing.
func TestStrictClientRefusesToConnectToLoopback(t *testing.T) {
	reached := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached = true }))
	defer srv.Close()
	for _, url := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		_, err := webhook.Policy{}.Client(2*time.Second, 1).Post(url, "application/json", strings.NewReader("{}"))
		require.Error(t, err, url)
		assert.ErrorIs(t, err, webhook.ErrAddressNotAllowed, url)
	}
	assert.False(t, reached, "the strict client never reached the loopback server")

	resp, err := webhook.Policy{AllowInsecure: true}.Client(2*time.Second, 1).Post(srv.URL, "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.True(t, reached, "the insecure (development) client does")
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	followed := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed = true
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	resp, err := webhook.Policy{AllowInsecure: true}.Client(2*time.Second, 1).Post(srv.URL, "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	assert.False(t, followed)
}
