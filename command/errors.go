package command

import (
	"github.com/agentic-commerce/wallet-ledger/eventstore"
	"github.com/agentic-commerce/wallet-ledger/internal/httpapi"
)

// The write side's refusals, by name. Each carries only a problem code; internal/httpapi's one table gives it its
// status, and Withf its words. The journal's own (ErrInsufficientFunds, ErrWalletNotFound, ...) live in
// eventstore.
var (
	ErrSameWallet            = &eventstore.Error{Code: "same_wallet"}
	ErrSystemWallet          = &eventstore.Error{Code: "system_wallet"}
	ErrReservedWalletID      = &eventstore.Error{Code: "reserved_wallet_id"}
	ErrMandateLimitExceeded  = &eventstore.Error{Code: "mandate_limit_exceeded"}
	ErrMandateInactive       = &eventstore.Error{Code: "mandate_inactive"}
	ErrDestinationNotAllowed = &eventstore.Error{Code: "destination_not_allowed"}
	ErrMandateNotFound       = eventstore.ErrMandateNotFound
	ErrMandateAmbiguous      = &eventstore.Error{Code: "mandate_ambiguous"}
	ErrHoldNotFound          = eventstore.ErrHoldNotFound
	ErrHoldNotActive         = &eventstore.Error{Code: "hold_not_active"}
	ErrHoldExpired           = &eventstore.Error{Code: "hold_expired"}
	ErrCaptureExceedsHold    = &eventstore.Error{Code: "capture_exceeds_hold"}
	ErrRefundExceedsOriginal = &eventstore.Error{Code: "refund_exceeds_original"}
	ErrNotRefundable         = &eventstore.Error{Code: "not_refundable"}
	ErrForbidden             = &eventstore.Error{Code: "forbidden"}
	ErrWalletFrozen          = &eventstore.Error{Code: "wallet_frozen"}
	ErrVersionMismatch       = &eventstore.Error{Code: "version_mismatch"}
	ErrPreconditionRequired  = &eventstore.Error{Code: "precondition_required"}
)

// invalidField is a 422 validation_error naming one field.
func invalidField(field, format string, args ...any) error {
	var f fields
	f.add(field, format, args...)
	return f.err()
}

// unauthenticated is what a write without a verified caller answers (the router's authentication makes it
// unreachable; it is here so a missing middleware fails closed).
var unauthenticated = httpapi.Errorf("unauthorized", "a Bearer token is required")
