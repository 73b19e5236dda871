package load

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer answers every line with the same line: a stand-in upstream
// that lets the test see exactly which bytes crossed the proxy.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, msg string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestProxyCutsAndHeals(t *testing.T) {
	p, err := NewProxy("127.0.0.1:0", echoServer(t))
	require.NoError(t, err)
	defer p.Close()

	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	got, err := roundTrip(c, "hello")
	require.NoError(t, err)
	assert.Equal(t, "hello", got)

	// Reset: the open connection dies and a new one is closed on arrival.
	require.NoError(t, p.Set(ProxyReset))
	_, err = roundTrip(c, "lost")
	assert.Error(t, err)
	c2, err := net.Dial("tcp", p.Addr())
	if err == nil {
		_, err = roundTrip(c2, "refused")
		c2.Close()
	}
	assert.Error(t, err)

	// Heal: new connections work again.
	require.NoError(t, p.Set(ProxyUp))
	c3, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	got, err = roundTrip(c3, "back")
	require.NoError(t, err)
	assert.Equal(t, "back", got)

	// Blackhole: the connection stays open but nothing comes back (a timeout, not an error from the peer).
	require.NoError(t, p.Set(ProxyBlackhole))
	_, err = roundTrip(c3, "void")
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "a blackhole must look like silence: %v", err)
	c4, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err, "a blackholed link still accepts, like a dropped route")
	_, err = roundTrip(c4, "void")
	assert.Error(t, err)

	// Healing a blackhole closes the stalled connections so clients reconnect.
	require.NoError(t, p.Set(ProxyUp))
	_, err = roundTrip(c3, "stale")
	assert.Error(t, err)
	c5, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	got, err = roundTrip(c5, "fresh")
	require.NoError(t, err)
	assert.Equal(t, "fresh", got)
	assert.Error(t, p.Set("sideways"))
}

func TestProxyControlHandler(t *testing.T) {
	p, err := NewProxy("127.0.0.1:0", echoServer(t))
	require.NoError(t, err)
	defer p.Close()
	srv := httptest.NewServer(p.ControlHandler())
	defer srv.Close()
	for _, m := range []ProxyMode{ProxyReset, ProxyBlackhole, ProxyUp} {
		resp, err := http.Post(srv.URL+"/"+string(m), "", nil)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, m, p.Mode())
	}
	resp, err := http.Get(srv.URL + "/reset")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}
