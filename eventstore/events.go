package eventstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// OutboxTopic is the Watermill topic whose table is outbox_events.
const OutboxTopic = "outbox_events"

// EventSchemaVersion is the version of the event payloads below; a breaking change bumps it.
const EventSchemaVersion = 1

// Event types.
const (
	EventWalletCreated        = "wallet.created"
	EventTransactionCommitted = "transaction.committed"
	EventHoldCreated          = "hold.created"
	EventHoldCaptured         = "hold.captured"
	EventHoldVoided           = "hold.voided"
	EventHoldExpired          = "hold.expired"
	EventMandateGranted       = "mandate.granted"
	EventMandateRevoked       = "mandate.revoked"
	EventWalletFrozen         = "wallet.frozen"
	EventWalletUnfrozen       = "wallet.unfrozen"
	EventMandateSuspended     = "mandate.suspended"
	EventMandateResumed       = "mandate.resumed"
	EventMandateConsumed      = "mandate.consumed"
	EventMandateReplaced      = "mandate.replaced"
	// EventWebhookEndpointDisabled: the relay disabled an endpoint that failed continuously (issue 19).
	EventWebhookEndpointDisabled = "webhook_endpoint.disabled"
)

// EventTypes lists every event type, for the filters of webhook endpoints and of the events feed. A new type is
// added here too.
var EventTypes = []string{
	EventWalletCreated, EventTransactionCommitted, EventHoldCreated, EventHoldCaptured, EventHoldVoided,
	EventHoldExpired, EventMandateGranted, EventMandateRevoked, EventMandateSuspended, EventMandateResumed,
	EventMandateConsumed, EventMandateReplaced, EventWalletFrozen, EventWalletUnfrozen, EventWebhookEndpointDisabled,
}

// Metadata keys of every outbox message.
const (
	MetadataEventType    = "event_type"
	MetadataPartitionKey = "partition_key"
)

// Event is the payload of one outbox message; fields that do not apply to a type are omitted.
type Event struct {
	EventID       uuid.UUID    `json:"event_id"`
	Type          string       `json:"type"`
	Version       int          `json:"version"`
	OccurredAt    time.Time    `json:"occurred_at"`
	Sub           string       `json:"sub"`
	Actor         *string      `json:"actor"` // who acted for sub (a delegated token's act.sub); null when sub acted
	TransactionID *uuid.UUID   `json:"transaction_id,omitempty"`
	Kind          string       `json:"kind,omitempty"`
	Position      int64        `json:"position,omitempty"`
	WalletID      *uuid.UUID   `json:"wallet_id,omitempty"`
	Owner         string       `json:"owner,omitempty"`
	WalletKind    string       `json:"wallet_kind,omitempty"`
	Asset         string       `json:"asset,omitempty"` // absent only from webhook_endpoint.* events
	Amount        *int64       `json:"amount,omitempty"`
	WalletIDs     []uuid.UUID  `json:"wallet_ids"`
	Entries       []Entry      `json:"entries,omitempty"`
	MandateID     *uuid.UUID   `json:"mandate_id,omitempty"`
	HoldID        *uuid.UUID   `json:"hold_id,omitempty"`
	RefundOf      *uuid.UUID   `json:"refund_of,omitempty"`
	Hold          *HoldView    `json:"hold,omitempty"`
	Mandate       *MandateView `json:"mandate,omitempty"`
	EndpointID    *uuid.UUID   `json:"endpoint_id,omitempty"` // webhook_endpoint.* events
	Reason        string       `json:"reason,omitempty"`      // webhook_endpoint.disabled
	ReplacedBy    *uuid.UUID   `json:"replaced_by,omitempty"` // mandate.replaced: the replacement
	Wallet        *FreezeView  `json:"wallet,omitempty"`      // wallet.frozen and wallet.unfrozen: the new status
}

// NewTransactionEvent describes a committed journal transaction.
func NewTransactionEvent(t Transaction) Event {
	id := t.ID
	amount := t.Amount
	seen := map[uuid.UUID]bool{}
	var wallets []uuid.UUID
	for _, e := range t.Entries {
		if !seen[e.WalletID] {
			seen[e.WalletID] = true
			wallets = append(wallets, e.WalletID)
		}
	}
	return Event{
		EventID: uuid.New(), Type: EventTransactionCommitted, Version: EventSchemaVersion, OccurredAt: t.CreatedAt,
		Sub: t.Sub, Actor: nullable(t.Actor), TransactionID: &id, Kind: t.Kind, Position: t.Position, Asset: t.Asset, Amount: &amount,
		WalletIDs: wallets, Entries: t.Entries, MandateID: t.MandateID, HoldID: t.HoldID, RefundOf: t.RefundOf,
	}
}

// NewWalletEvent describes a created wallet.
func NewWalletEvent(w Wallet, sub string) Event {
	id := w.ID
	return Event{
		EventID: uuid.New(), Type: EventWalletCreated, Version: EventSchemaVersion, OccurredAt: w.CreatedAt,
		Sub: sub, WalletID: &id, Owner: w.Owner, WalletKind: w.Kind, Asset: w.Asset, WalletIDs: []uuid.UUID{w.ID},
	}
}

// NewFreezeEvent describes a wallet frozen or unfrozen (typ) by caller (sub, and actor: "" when the sub acted
// itself).
func NewFreezeEvent(typ string, w Wallet, sub, actor string, now time.Time) Event {
	id := w.ID
	view := w.Freeze.View()
	return Event{
		EventID: uuid.New(), Type: typ, Version: EventSchemaVersion, OccurredAt: now, Sub: sub, Actor: nullable(actor),
		WalletID: &id, Owner: w.Owner, WalletKind: w.Kind, Asset: w.Asset, WalletIDs: []uuid.UUID{w.ID}, Wallet: &view,
	}
}

// QueueEvents queues the outbox rows for events, each carrying extra metadata (may be nil).
func QueueEvents(b *pgx.Batch, events []Event, extra map[string]string) error {
	out := make([]Outgoing, len(events))
	for i, ev := range events {
		out[i] = Outgoing{Event: ev, Metadata: extra}
	}
	return QueueOutbox(b, out)
}

// Outgoing is an event bound for the outbox with the metadata its message carries besides its type and partition
// key: the trace context of the request that caused it, so one trace runs from the HTTP request to the broker.
type Outgoing struct {
	Event    Event
	Metadata map[string]string
}

// QueueOutbox queues the outbox rows of events in one statement, in order, with Watermill message UUID = event_id
// so consumers can deduplicate. An event's own keys (type, partition key) win over its extra metadata. The rows are
// exactly what Watermill's PostgreSQL schema writes (uuid, JSON payload, JSON metadata, the writer's xid8) and what
// the relay reads; they are inserted from arrays rather than Watermill's VALUES list so that the statement's text,
// and so its prepared plan, is the same for a batch of any size.
func QueueOutbox(b *pgx.Batch, events []Outgoing) error {
	if len(events) == 0 {
		return nil
	}
	ids, payloads, metadata := make([]string, len(events)), make([]string, len(events)), make([]string, len(events))
	for i, o := range events {
		ev := o.Event
		payload, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", ev.Type, err)
		}
		meta := make(message.Metadata, len(o.Metadata)+2)
		for k, v := range o.Metadata {
			meta.Set(k, v)
		}
		meta.Set(MetadataEventType, ev.Type)
		if len(ev.WalletIDs) > 0 {
			meta.Set(MetadataPartitionKey, ev.WalletIDs[0].String())
		}
		encoded, err := json.Marshal(meta)
		if err != nil {
			return fmt.Errorf("encode metadata of event %s: %w", ev.Type, err)
		}
		ids[i], payloads[i], metadata[i] = ev.EventID.String(), string(payload), string(encoded)
	}
	// ORDER BY the position in the arrays: the offsets (bigserial) are drawn in that order, which is the order the
	// writes were decided in, and the relay publishes in offset order.
	b.Queue(`INSERT INTO `+OutboxTopic+` (uuid, payload, metadata, transaction_id)
		SELECT u, p::json, m::json, pg_current_xact_id()
		FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS o(u, p, m, i) ORDER BY i`,
		ids, payloads, metadata)
	return nil
}
