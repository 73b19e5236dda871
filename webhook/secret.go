package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretPrefix starts every endpoint secret, as the Standard Webhooks specification recommends.
const SecretPrefix = "whsec_"

// secretBytes is the length of a secret's key: 32 bytes, inside the 24-64 the specification asks for.
const secretBytes = 32

// KeyBytes is the length of WEBHOOK_SECRET_KEY once decoded: an AES-256 key.
const KeyBytes = 32

// sealVersion is the first byte of every sealed value, so the format can change without guessing.
const sealVersion byte = 1

// NewSecret returns a fresh endpoint secret: whsec_ followed by the base64 of 32 random bytes.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("generate a webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// Keyring seals endpoint secrets with AES-256-GCM under the key in WEBHOOK_SECRET_KEY, so the database alone
// never holds them in clear. Every sealed value is bound to what it seals (the additional data names the endpoint
// and the use), so a value copied to another row or column does not open.
type Keyring struct {
	aead cipher.AEAD
}

// ParseKeyring reads a key given as the standard base64 of 32 bytes (`openssl rand -base64 32`).
func ParseKeyring(encoded string) (*Keyring, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil || len(key) != KeyBytes {
		return nil, fmt.Errorf("WEBHOOK_SECRET_KEY: want the base64 of %d random bytes, such as the output of `openssl rand -base64 32`", KeyBytes)
	}
	return NewKeyring(key)
}

// NewKeyring returns a keyring on a 32-byte key.
func NewKeyring(key []byte) (*Keyring, error) {
	if len(key) != KeyBytes {
		return nil, fmt.Errorf("webhook keyring: the key must be %d bytes, not %d", KeyBytes, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("webhook keyring: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("webhook keyring: %w", err)
	}
	return &Keyring{aead: aead}, nil
}

// ErrCannotOpen is returned when a sealed value does not open: another key sealed it, or it was altered or moved.
var ErrCannotOpen = errors.New("webhook keyring: the sealed value does not open with WEBHOOK_SECRET_KEY")

// Seal encrypts plaintext bound to context: version byte, random nonce, ciphertext and tag.
func (k *Keyring) Seal(plaintext []byte, context string) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("webhook keyring: nonce: %w", err)
	}
	out := append([]byte{sealVersion}, nonce...)
	return k.aead.Seal(out, nonce, plaintext, []byte(context)), nil
}

// Open decrypts a value Seal returned for the same context.
func (k *Keyring) Open(sealed []byte, context string) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < 1+n+k.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrCannotOpen
	}
	plain, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(context))
	if err != nil {
		return nil, ErrCannotOpen
	}
	return plain, nil
}

// SecretContext is the additional data that binds a sealed signing secret to its endpoint.
func SecretContext(endpointID string) string { return "webhook-endpoint-secret:" + endpointID }

// ResponseContext binds a secret sealed inside a stored idempotent response to its endpoint.
func ResponseContext(endpointID string) string { return "webhook-endpoint-response:" + endpointID }
