package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/webhook"
)

// The example vectors published with the Standard Webhooks specification's libraries (the Go, JavaScript,
// Python, ... test suites share the first; the Rust one has the second).
var publishedVectors = []struct {
	secret, id string
	ts         int64
	body, want string
}{
	{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
		`{"test": 2432232314}`, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
	{"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553,
		`{"email":"test@example.com","username":"test_user"}`, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="},
}

func TestSignMatchesThePublishedVectors(t *testing.T) {
	for _, v := range publishedVectors {
		got, err := webhook.Sign(v.id, time.Unix(v.ts, 0), []byte(v.body), v.secret)
		require.NoError(t, err)
		assert.Equal(t, v.want, got, v.id)
		assert.NoError(t, verifyFromSpec(v.secret, v.id, strconv.FormatInt(v.ts, 10), []byte(v.body), got), v.id)
	}
}

// verifyFromSpec is a receiver's check written from the specification's text alone, without its library: the
// secret is the base64 after "whsec_"; the signed content is "<webhook-id>.<webhook-timestamp>.<body>"; the
// signature is the base64 of its HMAC-SHA256; the header lists "v1,<signature>" entries separated by spaces, any
// of which may match (compared in constant time).
func verifyFromSpec(secret, id, timestamp string, body []byte, header string) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, entry := range strings.Split(header, " ") {
		version, sig, ok := strings.Cut(entry, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errNoMatch
}

type verifyError string

func (e verifyError) Error() string { return string(e) }

const errNoMatch = verifyError("no signature matches")

func TestARotationSignsWithBothSecrets(t *testing.T) {
	oldSecret, err := webhook.NewSecret()
	require.NoError(t, err)
	newSecret, err := webhook.NewSecret()
	require.NoError(t, err)
	body := []byte(`{"event_id":"e","type":"wallet.created"}`)
	ts := time.Now()
	header, err := webhook.Sign("evt-1", ts, body, newSecret, oldSecret)
	require.NoError(t, err)
	require.Len(t, strings.Split(header, " "), 2, "two signatures, space separated: %s", header)

	headers := http.Header{}
	headers.Set(webhook.HeaderID, "evt-1")
	headers.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	headers.Set(webhook.HeaderSignature, header)
	for _, s := range []string{oldSecret, newSecret} {
		assert.NoError(t, verifyFromSpec(s, "evt-1", strconv.FormatInt(ts.Unix(), 10), body, header))
		wh, err := standardwebhooks.NewWebhook(s)
		require.NoError(t, err)
		assert.NoError(t, wh.Verify(body, headers), "the specification's library accepts either secret")
	}
	// Each entry is the single signature of its own secret.
	for i, s := range []string{newSecret, oldSecret} {
		alone, err := webhook.Sign("evt-1", ts, body, s)
		require.NoError(t, err)
		assert.Equal(t, alone, strings.Split(header, " ")[i])
	}
	stranger, err := webhook.NewSecret()
	require.NoError(t, err)
	assert.Error(t, verifyFromSpec(stranger, "evt-1", strconv.FormatInt(ts.Unix(), 10), body, header))
	assert.Error(t, verifyFromSpec(oldSecret, "evt-1", strconv.FormatInt(ts.Unix(), 10), []byte(`{}`), header),
		"another body does not verify")
}

func TestSignRefusesNoSecretAndABadOne(t *testing.T) {
	_, err := webhook.Sign("id", time.Now(), []byte("{}"))
	assert.Error(t, err)
	_, err = webhook.Sign("id", time.Now(), []byte("{}"), "whsec_not base64!")
	assert.Error(t, err)
}
