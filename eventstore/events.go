package eventstore

import (
	"encoding/json"
	"fmt"
	"time"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
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
)

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
	Asset         string       `json:"asset"`
	Amount        *int64       `json:"amount,omitempty"`
	WalletIDs     []uuid.UUID  `json:"wallet_ids"`
	Entries       []Entry      `json:"entries,omitempty"`
	MandateID     *uuid.UUID   `json:"mandate_id,omitempty"`
	HoldID        *uuid.UUID   `json:"hold_id,omitempty"`
	RefundOf      *uuid.UUID   `json:"refund_of,omitempty"`
	Hold          *HoldView    `json:"hold,omitempty"`
	Mandate       *MandateView `json:"mandate,omitempty"`
	ReplacedBy    *uuid.UUID   `json:"replaced_by,omitempty"` // mandate.replaced: the replacement
	Wallet        *FreezeView  `json:"wallet,omitempty"`      // wallet.frozen and wallet.unfrozen: the new status
}

// outboxSchema is Watermill's PostgreSQL schema pointed at outbox_events; using its insert keeps the rows exactly
// what the relay's Watermill subscriber reads.
var outboxSchema = watermillsql.DefaultPostgreSQLSchema{
	GenerateMessagesTableName: func(string) string { return OutboxTopic },
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
// so consumers can deduplicate. An event's own keys (type, partition key) win over its extra metadata.
func QueueOutbox(b *pgx.Batch, events []Outgoing) error {
	if len(events) == 0 {
		return nil
	}
	msgs := make(message.Messages, 0, len(events))
	for _, o := range events {
		ev := o.Event
		payload, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", ev.Type, err)
		}
		msg := message.NewMessage(ev.EventID.String(), payload)
		for k, v := range o.Metadata {
			msg.Metadata.Set(k, v)
		}
		msg.Metadata.Set(MetadataEventType, ev.Type)
		if len(ev.WalletIDs) > 0 {
			msg.Metadata.Set(MetadataPartitionKey, ev.WalletIDs[0].String())
		}
		msgs = append(msgs, msg)
	}
	q, err := outboxSchema.InsertQuery(watermillsql.InsertQueryParams{Topic: OutboxTopic, Msgs: msgs})
	if err != nil {
		return fmt.Errorf("build outbox insert: %w", err)
	}
	b.Queue(q.Query, q.Args...)
	return nil
}
