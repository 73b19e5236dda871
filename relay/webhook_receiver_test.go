package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/command"
	"github.com/agentic-commerce/wallet-ledger/relay"
	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// TestReferenceWebhookReceiver builds relay/example/webhook-receiver and points an endpoint at it: it prints every
// event once, a re-sent one included, and refuses forged and replayed requests.
func TestReferenceWebhookReceiver(t *testing.T) {
	t.Parallel()
	s := hookSettings(t)
	l := webhookLedger(t, s)
	bin := filepath.Join(t.TempDir(), "webhook-receiver")
	build := exec.Command("go", "build", "-o", bin, "./example/webhook-receiver")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	url := "http://" + addr + "/webhooks"
	id, secret := l.endpoint(alice, url)
	var stdout syncBuffer
	var stderr syncBuffer
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret, "RECEIVER_ADDR="+addr)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitFor(t, 10*time.Second, "the receiver to listen", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	startWebhookRelay(t, testConfig(t, relay.PublisherSQL), l.pool, fastHooks(s))
	a, b := l.walletOf("alice"), l.walletOf("alice")
	l.fund(context.Background(), a, 10)
	status, err := l.transfer(context.Background(), a, b, 3)
	require.NoError(t, err)
	require.Equal(t, 201, status)

	lines := func() []string {
		if strings.TrimSpace(stdout.String()) == "" {
			return nil
		}
		return strings.Split(strings.TrimSpace(stdout.String()), "\n")
	}
	waitFor(t, 20*time.Second, "four events printed", func() bool { return len(lines()) >= 4 })

	// Re-send one delivery: the receiver gets it again and acknowledges it, but prints nothing new.
	var delivery uuid.UUID
	require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT delivery_id FROM webhook_deliveries
		WHERE endpoint_id = $1 ORDER BY event_seq LIMIT 1`, id).Scan(&delivery))
	res, err := l.cmds.ResendWebhookDelivery.Run(context.Background(), alice, idemOf(alice), command.ResendWebhookDelivery{EndpointID: id, DeliveryID: delivery})
	require.NoError(t, err)
	require.Equal(t, 200, res.Status, string(res.Body))
	waitFor(t, 20*time.Second, "the re-sent delivery", func() bool {
		var n int
		require.NoError(t, l.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries
			WHERE delivery_id = $1 AND status = 'delivered' AND attempts = 2`, delivery).Scan(&n))
		return n == 1
	})

	// A forged signature and a replayed (old) timestamp are refused.
	body := []byte(`{"event_id":"` + uuid.NewString() + `","type":"wallet.created","version":1}`)
	now, old := time.Now(), time.Now().Add(-6*time.Minute)
	forged, err := webhook.Sign("forged", now, body, "whsec_"+strings.Repeat("A", 43)+"=")
	require.NoError(t, err)
	stale, err := webhook.Sign("stale", old, body, secret)
	require.NoError(t, err)
	for _, r := range []struct {
		id, sig string
		ts      time.Time
	}{{"forged", forged, now}, {"stale", stale, old}} {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("webhook-id", r.id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(r.ts.Unix(), 10))
		req.Header.Set("webhook-signature", r.sig)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, r.id)
	}

	time.Sleep(200 * time.Millisecond)
	ids := map[string]bool{}
	var types []string
	for _, line := range lines() {
		var rec struct {
			WebhookID string         `json:"webhook_id"`
			Event     map[string]any `json:"event"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		assert.Equal(t, rec.Event["event_id"], rec.WebhookID)
		ids[rec.WebhookID] = true
		types = append(types, rec.Event["type"].(string))
	}
	assert.Len(t, lines(), 4, "each event printed once: %s", stdout.String())
	assert.Len(t, ids, 4)
	assert.ElementsMatch(t, []string{"wallet.created", "wallet.created", "transaction.committed", "transaction.committed"}, types)
	assert.Contains(t, stderr.String(), "refused a webhook")
}
