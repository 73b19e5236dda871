package eventstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Error is a ledger domain error: a stable problem code and a detail safe to show the caller. internal/httpapi maps
// the code to an HTTP status; nothing below HTTP knows about statuses.
type Error struct {
	Code   string
	Detail string
	err    error // the cause, for logs only
}

func (e *Error) Error() string {
	if e.err != nil {
		return e.Code + ": " + e.Detail + ": " + e.err.Error()
	}
	return e.Code + ": " + e.Detail
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.err }

// ProblemCode returns the stable machine code.
func (e *Error) ProblemCode() string { return e.Code }

// ProblemDetail returns the caller-facing explanation.
func (e *Error) ProblemDetail() string { return e.Detail }

// Is matches any *Error with the same code, so errors.Is(err, ErrInsufficientFunds) works on detailed errors.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Withf returns the refusal e with a detail for the caller: how a named domain error (ErrInsufficientFunds, ...)
// says what exactly was refused. errors.Is still matches it to e.
func (e *Error) Withf(format string, args ...any) *Error {
	return &Error{Code: e.Code, Detail: fmt.Sprintf(format, args...)}
}

// The journal's refusals, by name, for errors.Is; Withf gives one its detail.
var (
	ErrUnavailable         = &Error{Code: "service_unavailable", Detail: "the ledger database is unavailable; nothing was committed, retry with the same Idempotency-Key"}
	ErrInsufficientFunds   = &Error{Code: "insufficient_funds"}
	ErrWalletNotFound      = &Error{Code: "wallet_not_found"}
	ErrTransactionNotFound = &Error{Code: "transaction_not_found"}
	ErrWalletExists        = &Error{Code: "wallet_exists"}
	ErrAssetMismatch       = &Error{Code: "asset_mismatch"}
	ErrIdempotencyKeyReuse = &Error{Code: "idempotency_key_reuse"}
	ErrIdempotencyKeyInUse = &Error{Code: "idempotency_key_in_use"}
	ErrBalanceOutOfRange   = &Error{Code: "balance_out_of_range"}
	ErrMandateNotFound     = &Error{Code: "mandate_not_found"}
	ErrHoldNotFound        = &Error{Code: "hold_not_found"}
)

// Constraint names the classifier recognises.
const (
	constraintWalletPK        = "wallets_pkey"
	constraintIdempotencyPK   = "idempotency_keys_pkey"
	constraintJournalSubKey   = "journal_transactions_sub_actor_key"
	constraintNonNegative     = "balance_projections_non_negative"
	constraintEntryAssetMatch = "journal_entries_wallet_asset_fkey"
)

// classify maps driver and PostgreSQL errors to domain errors, once, for every statement the ledger runs. Errors it
// does not recognise pass through unchanged and end as a 500: they are bugs, not inputs.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var domain *Error
	if errors.As(err, &domain) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505" && pgErr.ConstraintName == constraintWalletPK:
			return &Error{Code: ErrWalletExists.Code, Detail: "a wallet with this wallet_id already exists", err: err}
		case pgErr.Code == "23505" && pgErr.ConstraintName == constraintIdempotencyPK:
			// Another request with this key committed first; the write side replays its response.
			return &Error{Code: ErrIdempotencyKeyInUse.Code, Detail: "another request with this key committed first", err: err}
		case pgErr.Code == "23505" && pgErr.ConstraintName == constraintJournalSubKey:
			return &Error{Code: ErrIdempotencyKeyReuse.Code, Detail: "this Idempotency-Key already moved money for another request", err: err}
		case pgErr.Code == "23514" && pgErr.ConstraintName == constraintNonNegative:
			return &Error{Code: ErrInsufficientFunds.Code, Detail: "the wallet's available balance is too low", err: err}
		case pgErr.Code == "23503" && pgErr.ConstraintName == constraintEntryAssetMatch:
			return &Error{Code: ErrAssetMismatch.Code, Detail: "an entry's asset does not match its wallet", err: err}
		case pgErr.Code == "22003":
			return &Error{Code: ErrBalanceOutOfRange.Code, Detail: "the balance would leave the 64-bit range", err: err}
		case pgErr.Code == "55P03":
			// lock_timeout: another writer holds the wallet (or the idempotency key) too long. Retryable.
			return &Error{Code: ErrUnavailable.Code, Detail: "the wallet is busy; nothing was committed, retry with the same Idempotency-Key", err: err}
		case isUnavailableCode(pgErr.Code):
			return &Error{Code: ErrUnavailable.Code, Detail: ErrUnavailable.Detail, err: err}
		}
		return err
	}
	if isConnectionError(err) {
		return &Error{Code: ErrUnavailable.Code, Detail: ErrUnavailable.Detail, err: err}
	}
	return err
}

// isUnavailableCode: connection exceptions (08), statement timeout or cancel (57014), shutdown (57P01-57P03),
// serialization failures and deadlocks (40001, 40P01), out of resources (53), read-only after failover (25006).
func isUnavailableCode(code string) bool {
	switch {
	case len(code) == 5 && (code[:2] == "08" || code[:2] == "53"):
		return true
	}
	switch code {
	case "57014", "57P01", "57P02", "57P03", "40001", "40P01", "25006":
		return true
	}
	return false
}

func isConnectionError(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	case pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, pgx.ErrTxClosed), errors.Is(err, pgx.ErrTxCommitRollback):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}
