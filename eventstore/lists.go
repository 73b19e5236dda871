package eventstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Lists are cursor-paged newest first on a key that never changes once a row is written, and every page is an
// index range read from the cursor's key down, stopped by LIMIT: its cost does not grow with the table (migration
// 008 holds the indexes). A walk down the pages therefore sees every row that existed when it began exactly once,
// whatever is written meanwhile. The statements are chosen among fixed texts by which filters are set; values only
// ever travel as parameters.

// PageKey is a row's place in a list ordered by (created_at, id), newest first.
type PageKey struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// FirstPage is the key above every row: a list starts below it.
var FirstPage = PageKey{CreatedAt: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), ID: uuid.Max}

// WalletFilter selects the wallets a list shows.
type WalletFilter struct {
	// All lists every wallet (admins); otherwise the list is the wallets Sub owns and those it holds an active
	// mandate on at Now.
	All   bool
	Sub   string
	Now   time.Time
	Owner string // optional
	Asset string // optional
}

const walletListColumns = `w.wallet_id, w.asset, w.owner, w.kind, w.metadata, w.created_at, w.status,
	coalesce(w.frozen_reason, '') AS frozen_reason, coalesce(w.frozen_by, '') AS frozen_by, w.frozen_at, w.frozen_by_admin`

// walletListQuery is the statement of one page of wallets below key.
func walletListQuery(f WalletFilter, key PageKey, limit int) (string, pgx.NamedArgs) {
	args := pgx.NamedArgs{"at": key.CreatedAt, "id": key.ID, "limit": limit, "owner": f.Owner, "asset": f.Asset,
		"sub": f.Sub, "now": f.Now}
	below := ` AND (w.created_at, w.wallet_id) < (@at, @id) ORDER BY w.created_at DESC, w.wallet_id DESC LIMIT @limit`
	asset := ""
	if f.Asset != "" {
		asset = ` AND w.asset = @asset`
	}
	if f.All {
		owner := ""
		if f.Owner != "" {
			owner = ` AND w.owner = @owner`
		}
		return `SELECT ` + walletListColumns + ` FROM wallets w WHERE true` + owner + asset + below, args
	}
	// What the caller owns, and (disjointly: another owner's) what it may spend under an active mandate.
	var branches []string
	if f.Owner == "" || f.Owner == f.Sub {
		branches = append(branches, `(SELECT `+walletListColumns+` FROM wallets w
			WHERE w.owner = @sub AND w.kind = 'user'`+asset+below+`)`)
	}
	if f.Owner != f.Sub {
		owner := ` AND w.owner <> @sub`
		if f.Owner != "" {
			owner = ` AND w.owner = @owner`
		}
		branches = append(branches, `(SELECT `+walletListColumns+` FROM wallets w
			WHERE w.wallet_id IN (SELECT m.wallet_id FROM mandates m
				WHERE m.agent = @sub AND m.status = 'active' AND m.expires_at > @now)
			AND w.kind = 'user'`+owner+asset+below+`)`)
	}
	return `SELECT * FROM (` + strings.Join(branches, ` UNION ALL `) + `) w
		ORDER BY w.created_at DESC, w.wallet_id DESC LIMIT @limit`, args
}

// ListWallets reads up to limit wallets that f selects, below key, newest first.
func ListWallets(ctx context.Context, q Querier, f WalletFilter, key PageKey, limit int) ([]Wallet, error) {
	sql, args := walletListQuery(f, key, limit)
	rows, err := q.Query(ctx, sql, args)
	if err != nil {
		return nil, classify(fmt.Errorf("list wallets: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Wallet, error) { return scanWallet(r) })
	if err != nil {
		return nil, classify(fmt.Errorf("list wallets: %w", err))
	}
	return out, nil
}

// HoldFilter selects the holds of one wallet a list shows.
type HoldFilter struct {
	WalletID uuid.UUID
	// Sub, when set, keeps only the holds Sub made (what an agent may see of another's wallet).
	Sub string
	// Status, when set, is the status a reader sees at Now: an active hold past its expiry reads as expired.
	Status string
	Now    time.Time
}

// holdListQuery is the statement of one page of holds below key.
func holdListQuery(f HoldFilter, key PageKey, limit int) (string, pgx.NamedArgs) {
	args := pgx.NamedArgs{"wallet": f.WalletID, "sub": f.Sub, "now": f.Now, "at": key.CreatedAt, "id": key.ID,
		"limit": limit}
	base := `SELECT ` + holdColumns + ` FROM holds WHERE wallet_id = @wallet`
	if f.Sub != "" {
		base += ` AND sub = @sub`
	}
	below := ` AND (created_at, hold_id) < (@at, @id) ORDER BY created_at DESC, hold_id DESC LIMIT @limit`
	switch f.Status {
	case "":
		return base + below, args
	case HoldActive:
		return base + ` AND status = 'active' AND expires_at > @now` + below, args
	case HoldExpired:
		// Released by the sweeper, or still waiting for it: two index ranges merged.
		return `SELECT * FROM ((` + base + ` AND status = 'expired'` + below + `) UNION ALL (` +
			base + ` AND status = 'active' AND expires_at <= @now` + below + `)) h
			ORDER BY created_at DESC, hold_id DESC LIMIT @limit`, args
	default:
		args["status"] = f.Status
		return base + ` AND status = @status` + below, args
	}
}

// ListHolds reads up to limit holds that f selects, below key, newest first.
func ListHolds(ctx context.Context, q Querier, f HoldFilter, key PageKey, limit int) ([]Hold, error) {
	sql, args := holdListQuery(f, key, limit)
	rows, err := q.Query(ctx, sql, args)
	if err != nil {
		return nil, classify(fmt.Errorf("list holds of %s: %w", f.WalletID, err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hold, error) { return scanHold(r) })
	if err != nil {
		return nil, classify(fmt.Errorf("list holds of %s: %w", f.WalletID, err))
	}
	return out, nil
}

// MandateFilter selects the mandates of one wallet a list shows.
type MandateFilter struct {
	WalletID uuid.UUID
	Agent    string // optional
	// Status, when set, is the status a reader sees at Now: an active mandate past its expiry reads as expired.
	Status string
	Now    time.Time
}

// mandateListQuery is the statement of one page of mandates below key.
func mandateListQuery(f MandateFilter, key PageKey, limit int) (string, pgx.NamedArgs) {
	args := pgx.NamedArgs{"wallet": f.WalletID, "agent": f.Agent, "now": f.Now, "at": key.CreatedAt, "id": key.ID,
		"limit": limit}
	sql := `SELECT ` + mandateColumns + ` FROM mandates WHERE wallet_id = @wallet`
	if f.Agent != "" {
		sql += ` AND agent = @agent`
	}
	switch f.Status {
	case MandateActive, MandateSuspended:
		args["status"] = f.Status
		sql += ` AND status = @status AND expires_at > @now`
	case MandateExpired:
		// A suspended mandate past its expiry reads as expired too (Mandate.StatusAt).
		sql += ` AND status IN ('active', 'suspended') AND expires_at <= @now`
	case MandateRevoked, MandateConsumed:
		args["status"] = f.Status
		sql += ` AND status = @status`
	}
	return sql + ` AND (created_at, mandate_id) < (@at, @id) ORDER BY created_at DESC, mandate_id DESC LIMIT @limit`, args
}

// ListMandates reads up to limit mandates that f selects, below key, newest first.
func ListMandates(ctx context.Context, q Querier, f MandateFilter, key PageKey, limit int) ([]Mandate, error) {
	sql, args := mandateListQuery(f, key, limit)
	rows, err := q.Query(ctx, sql, args)
	if err != nil {
		return nil, classify(fmt.Errorf("list mandates of wallet %s: %w", f.WalletID, err))
	}
	defer rows.Close()
	out := []Mandate{}
	if err := scanMandates(rows, &out); err != nil {
		return nil, classify(fmt.Errorf("list mandates of wallet %s: %w", f.WalletID, err))
	}
	return out, nil
}

// AgentHasMandates reports whether agent holds any mandate on walletID, active or not.
func AgentHasMandates(ctx context.Context, q Querier, walletID uuid.UUID, agent string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mandates WHERE wallet_id = $1 AND agent = $2)`,
		walletID, agent).Scan(&ok)
	if err != nil {
		return false, classify(fmt.Errorf("look up mandates of %s on %s: %w", agent, walletID, err))
	}
	return ok, nil
}
