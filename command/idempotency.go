package command

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
	"github.com/agentic-commerce/wallet-ledger/internal/telemetry"
)

// IdempotencyHeader names the header every write carries.
const IdempotencyHeader = "Idempotency-Key"

// Idempotency identifies one logical write: the caller's key, scoped to its sub, and the hash of the request
// (method, path and canonical body) that first used it.
type Idempotency struct {
	Sub  string
	Key  string
	Hash []byte
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
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", method, path)
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
	// as Ledger-Position; see withPosition.
	Position string
}

type storedResponse struct {
	hash     []byte
	status   int
	body     []byte
	location *string
}

// writePlan is one use case's work inside the write transaction: read queues the reads and row locks the
// decision needs (in the first round trip, beside the idempotency lookup); decide checks the rules on what was
// read and queues the writes (in the second round trip, beside the idempotency record).
type writePlan interface {
	read(b *pgx.Batch)
	decide(b *pgx.Batch) (status int, body any, location string, err error)
}

var errReplay = errors.New("idempotency key already answered")

// execute runs plan under idem in one DB transaction: the idempotency record, the journal rows, the projection
// update and the outbox rows commit together or not at all, in two round trips (BEGIN and COMMIT ride on the
// batches). A key seen before is answered from its stored
// response; a domain refusal is stored too, so a retry gets the same answer.
func (c *Commands) execute(ctx context.Context, idem Idempotency, instance string, plan writePlan) (Outcome, error) {
	var prior *storedResponse
	var out Outcome
	err := c.store.InWriteTx(ctx, func(tx *eventstore.WriteTx) error {
		b := &pgx.Batch{}
		queueLookup(b, idem, &prior)
		plan.read(b)
		if err := tx.Send(ctx, b); err != nil {
			return fmt.Errorf("read for write: %w", err)
		}
		if prior != nil {
			return errReplay
		}
		b = &pgx.Batch{}
		status, body, location, err := plan.decide(b)
		if err != nil {
			return err
		}
		// One trace from the HTTP request to the downstream broker: the relay continues it from the metadata.
		if err := eventstore.StampOutbox(b, telemetry.InjectMap(ctx)); err != nil {
			return err
		}
		encoded, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode response: %w", err)
		}
		c.queueStore(b, idem, status, encoded, location)
		out = Outcome{Status: status, Body: encoded, Location: location}
		if err := tx.SendAndCommit(ctx, b); err != nil {
			return err
		}
		out.Position = tx.CommitLSN()
		return nil
	})
	switch {
	case err == nil:
	case errors.Is(err, errReplay):
		out, err = c.replay(ctx, idem, prior)
	case errors.Is(err, eventstore.ErrIdempotencyKeyInUse):
		// Another request with this key committed while this one ran: answer with its response.
		out, err = c.lookupAndReplay(ctx, idem, err)
	case storable(err):
		out, err = c.storeRefusal(ctx, idem, instance, err)
	default:
		return Outcome{}, err
	}
	return c.withPosition(ctx, out, err)
}

// withPosition gives an answer without a commit position of its own the primary's current WAL position: a replayed
// response (its write committed before the key's record could be read, so before now), a stored refusal (decided
// on what was committed before it), or a commit whose position could not be read after COMMIT. A later position is
// always safe for read-your-writes; it may only make a replica read wait a little longer. Should even that read
// fail, the answer goes without Ledger-Position (reads without one are served by the primary).
func (c *Commands) withPosition(ctx context.Context, out Outcome, err error) (Outcome, error) {
	if err != nil || out.Position != "" {
		return out, err
	}
	if pos, perr := c.store.CurrentLSN(ctx); perr == nil {
		out.Position = pos
	}
	return out, nil
}

func (c *Commands) replay(ctx context.Context, idem Idempotency, prior *storedResponse) (Outcome, error) {
	if string(prior.hash) != string(idem.Hash) {
		telemetry.RecordIdempotencyConflict(ctx, eventstore.ErrIdempotencyKeyReuse.Code)
		return Outcome{}, eventstore.Errorf(eventstore.ErrIdempotencyKeyReuse.Code,
			"this Idempotency-Key was used for a different request; use a new key for a new request")
	}
	telemetry.RecordIdempotencyReplay(ctx)
	out := Outcome{Status: prior.status, Body: prior.body, Replayed: true, Problem: prior.status >= 400}
	if prior.location != nil {
		out.Location = *prior.location
	}
	return out, nil
}

func (c *Commands) lookupAndReplay(ctx context.Context, idem Idempotency, cause error) (Outcome, error) {
	var prior *storedResponse
	b := &pgx.Batch{}
	queueLookup(b, idem, &prior)
	if err := c.store.Pool().SendBatch(ctx, b).Close(); err != nil {
		return Outcome{}, eventstore.Classify(fmt.Errorf("look up idempotency key: %w", err))
	}
	if prior == nil {
		telemetry.RecordIdempotencyConflict(ctx, eventstore.ErrIdempotencyKeyInUse.Code)
		return Outcome{}, cause
	}
	return c.replay(ctx, idem, prior)
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

// storeRefusal records a domain refusal under the key, in its own transaction (the write's was rolled back).
func (c *Commands) storeRefusal(ctx context.Context, idem Idempotency, instance string, cause error) (Outcome, error) {
	var coded httpapi.Coded
	if errors.As(cause, &coded) {
		telemetry.RecordRejection(ctx, coded.ProblemCode())
	}
	status, body := httpapi.ProblemFor(cause, instance)
	var inserted bool
	err := c.store.InTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys
			(sub, idempotency_key, request_hash, status_code, response_body, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sub, idempotency_key) DO NOTHING`,
			idem.Sub, idem.Key, idem.Hash, status, body, c.now().Add(c.keyTTL))
		inserted = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		// The refusal stands; only its record failed, and a retry will decide again.
		return Outcome{Status: status, Body: body, Problem: true}, nil
	}
	if !inserted {
		return c.lookupAndReplay(ctx, idem, cause)
	}
	return Outcome{Status: status, Body: body, Problem: true}, nil
}

func queueLookup(b *pgx.Batch, idem Idempotency, dst **storedResponse) {
	b.Queue(`SELECT request_hash, status_code, response_body, location FROM idempotency_keys
		WHERE sub = $1 AND idempotency_key = $2`, idem.Sub, idem.Key).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var s storedResponse
				if err := rows.Scan(&s.hash, &s.status, &s.body, &s.location); err != nil {
					return err
				}
				*dst = &s
			}
			return rows.Err()
		})
}

func (c *Commands) queueStore(b *pgx.Batch, idem Idempotency, status int, body []byte, location string) {
	var loc *string
	if location != "" {
		loc = &location
	}
	b.Queue(`INSERT INTO idempotency_keys (sub, idempotency_key, request_hash, status_code, response_body, location, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, idem.Sub, idem.Key, idem.Hash, status, body, loc, c.now().Add(c.keyTTL))
}
