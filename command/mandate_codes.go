package command

// Problem codes of holds, mandates and refunds; internal/httpapi's table gives each its status.
const (
	codeMandateLimitExceeded  = "mandate_limit_exceeded"
	codeMandateInactive       = "mandate_inactive"
	codeDestinationNotAllowed = "destination_not_allowed"
	codeMandateNotFound       = "mandate_not_found"
	codeMandateAmbiguous      = "mandate_ambiguous"
	codeHoldNotFound          = "hold_not_found"
	codeHoldNotActive         = "hold_not_active"
	codeHoldExpired           = "hold_expired"
	codeCaptureExceedsHold    = "capture_exceeds_hold"
	codeRefundExceedsOriginal = "refund_exceeds_original"
	codeNotRefundable         = "not_refundable"
)
