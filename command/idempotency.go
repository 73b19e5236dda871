package command

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
)

// IdempotencyHeader names the header every write carries.
const IdempotencyHeader = "Idempotency-Key"

// Idempotency identifies one logical write: the caller's key, scoped to its sub and actor (a delegated token's
// act.sub; "" for none), and the hash of the request (method, path, canonical body and any precondition) that
// first used it.
type Idempotency struct {
	Sub   string
	Actor string
	Key   string
	Hash  []byte
}

// actorSeparator joins a delegated caller's sub and actor into the scope of its keys. No sub or actor can contain
// it (auth.ValidSub refuses control characters), so the scope of alice's agent is never any plain caller's sub,
// and two agents acting for alice never share a key.
const actorSeparator = "\x1f"

// scope is who a key belongs to, as idempotency_keys.sub stores it.
func (i Idempotency) scope() string {
	if i.Actor == "" {
		return i.Sub
	}
	return i.Sub + actorSeparator + i.Actor
}

// ParseKey validates an Idempotency-Key header value: 1 to 255 printable ASCII characters.
func ParseKey(v string) (string, error) {
	if v == "" {
		return "", httpapi.Errorf("idempotency_key_required", "every write needs an Idempotency-Key header")
	}
	if len(v) > 255 {
		return "", httpapi.Errorf("invalid_idempotency_key", "the Idempotency-Key must be at most 255 characters")
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return "", httpapi.Errorf("invalid_idempotency_key", "the Idempotency-Key must be printable ASCII")
		}
	}
	return v, nil
}

// RequestHash fingerprints a request so a key reused for another request is caught.
func RequestHash(method, path string, canonicalBody []byte) []byte {
	return requestHash(method, path, nil, canonicalBody)
}

// requestHash fingerprints a request whose identity includes an If-Match precondition (nil: none). The header
// line cannot be mistaken for a body: a canonical JSON body never starts with "If-Match".
func requestHash(method, path string, ifMatch *string, canonicalBody []byte) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", method, path)
	if ifMatch != nil {
		fmt.Fprintf(h, "If-Match: %s\n", *ifMatch)
	}
	h.Write(canonicalBody)
	return h.Sum(nil)
}

// Outcome is the response to a write, fresh or replayed.
type Outcome struct {
	Status   int
	Body     []byte
	Location string
	Replayed bool
	Problem  bool
	// Position is the WAL position the answer is known to be committed by (PostgreSQL's text form of an LSN), sent
	// as Ledger-Position; see Commands.positionOf.
	Position string
}

// idemKey identifies a key: one caller's key (sub is its scope), whatever request it carries.
type idemKey struct{ sub, key string }

func (i Idempotency) key() idemKey { return idemKey{i.scope(), i.Key} }

type storedResponse struct {
	hash     []byte
	status   int
	body     []byte
	location *string
}

// keyRecord is the response a batch stores under a key it claimed.
type keyRecord struct {
	idem     Idempotency
	status   int
	body     []byte
	location string
}

// pendingStatus marks a claimed key whose response is not written yet. Only the claiming transaction ever sees
// it: the same transaction either stores the response or deletes the claim before COMMIT.
const pendingStatus = 0

// queueClaims queues claiming keys for this transaction, in key order (so concurrent batches wait for each other
// instead of deadlocking), into claimed. A key another transaction has claimed but not committed makes this one
// wait until it ends; a key already stored is not claimed, and its response is replayed. So two requests with one
// key, in one batch or in two, have one effect.
func queueClaims(b *pgx.Batch, keys []Idempotency, expires time.Time, claimed map[idemKey]bool) {
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, func(a, b Idempotency) int {
		return cmp.Or(cmp.Compare(a.scope(), b.scope()), cmp.Compare(a.Key, b.Key))
	})
	subs, ks, hashes := make([]string, len(sorted)), make([]string, len(sorted)), make([][]byte, len(sorted))
	for i, k := range sorted {
		subs[i], ks[i], hashes[i] = k.scope(), k.Key, k.Hash
	}
	b.Queue(`INSERT INTO idempotency_keys (sub, idempotency_key, request_hash, status_code, response_body, expires_at)
		SELECT s, k, h, $4, '', $5 FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS c(s, k, h, i)
		ORDER BY i ON CONFLICT (sub, idempotency_key) DO NOTHING RETURNING sub, idempotency_key`,
		subs, ks, hashes, pendingStatus, expires).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k idemKey
				if err := rows.Scan(&k.sub, &k.key); err != nil {
					return err
				}
				claimed[k] = true
			}
			return rows.Err()
		})
}

// queueLookups queues reading the responses stored under keys (committed ones; the claims of this transaction
// read as pending and are skipped) into dst. It runs after the claims, so it sees a key whose claim waited for
// another transaction's COMMIT.
func queueLookups(b *pgx.Batch, keys []Idempotency, dst map[idemKey]storedResponse) {
	subs, ks := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		subs[i], ks[i] = k.scope(), k.Key
	}
	b.Queue(`SELECT sub, idempotency_key, request_hash, status_code, response_body, location FROM idempotency_keys
		WHERE (sub, idempotency_key) IN (SELECT s, k FROM unnest($1::text[], $2::text[]) AS l(s, k))
		AND status_code <> $3`, subs, ks, pendingStatus).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k idemKey
				var s storedResponse
				if err := rows.Scan(&k.sub, &k.key, &s.hash, &s.status, &s.body, &s.location); err != nil {
					return err
				}
				dst[k] = s
			}
			return rows.Err()
		})
}

// queueRecords queues storing the batch's responses under the keys it claimed.
func queueRecords(b *pgx.Batch, records []keyRecord) {
	if len(records) == 0 {
		return
	}
	n := len(records)
	subs, ks, locations := make([]string, n), make([]string, n), make([]string, n)
	statuses, bodies := make([]int32, n), make([][]byte, n)
	for i, r := range records {
		subs[i], ks[i], statuses[i], bodies[i], locations[i] = r.idem.scope(), r.idem.Key, int32(r.status), r.body, r.location
	}
	b.Queue(`UPDATE idempotency_keys k SET status_code = r.status, response_body = r.body, location = NULLIF(r.loc, '')
		FROM unnest($1::text[], $2::text[], $3::int[], $4::bytea[], $5::text[]) AS r(s, k, status, body, loc)
		WHERE k.sub = r.s AND k.idempotency_key = r.k`, subs, ks, statuses, bodies, locations)
}

// queueReleases queues giving back the claims of keys whose answer is not stored (a 5xx, an unkept refusal).
func queueReleases(b *pgx.Batch, keys []Idempotency) {
	if len(keys) == 0 {
		return
	}
	subs, ks := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		subs[i], ks[i] = k.scope(), k.Key
	}
	b.Queue(`DELETE FROM idempotency_keys WHERE (sub, idempotency_key) IN
		(SELECT s, k FROM unnest($1::text[], $2::text[]) AS r(s, k)) AND status_code = $3`, subs, ks, pendingStatus)
}

// replay answers a request whose key is already stored: its response if it is the same request, a refusal if the
// key was used for another.
func replay(ctx context.Context, idem Idempotency, prior storedResponse) (Outcome, error) {
	if string(prior.hash) != string(idem.Hash) {
		telemetry.RecordIdempotencyConflict(ctx, eventstore.ErrIdempotencyKeyReuse.Code)
		return Outcome{}, eventstore.ErrIdempotencyKeyReuse.Withf(
			"this Idempotency-Key was used for a different request; use a new key for a new request")
	}
	telemetry.RecordIdempotencyReplay(ctx)
	out := Outcome{Status: prior.status, Body: prior.body, Replayed: true, Problem: prior.status >= 400}
	if prior.location != nil {
		out.Location = *prior.location
	}
	return out, nil
}

// storable reports whether a refusal is a final answer to store under the key: a domain rule, not a transient
// failure (503) and not a bug (500).
func storable(err error) bool {
	var coded httpapi.Coded
	if !errors.As(err, &coded) {
		return false
	}
	status, _ := httpapi.ProblemFor(err, "")
	return status >= 400 && status < 500
}
