package load

import (
	"fmt"
	"sort"

	"github.com/agentic-commerce/wallet-ledger/client"
)

// DBFacts are the ledger-wide sums read straight from PostgreSQL. They cover
// every wallet, system wallets included, not just the ones a run touched.
type DBFacts struct {
	// BalanceSums is SUM(balance_projections.balance) per asset; every unit
	// that entered a user wallet left a system wallet, so each must be 0.
	BalanceSums map[string]int64 `json:"balance_sums"`
	// JournalSums is SUM(journal_entries.amount) per asset, also 0.
	JournalSums map[string]int64 `json:"journal_sums"`
	// ProjectionMismatches counts wallets whose projected balance differs
	// from the sum of their journal entries.
	ProjectionMismatches int64 `json:"projection_mismatches"`
	// UnbalancedTransactions counts transactions whose entries do not sum to 0.
	UnbalancedTransactions int64 `json:"unbalanced_transactions"`
	// DuplicateKeys counts (sub, idempotency_key) pairs with more than one
	// committed transaction: a retried key that took effect twice.
	DuplicateKeys int64 `json:"duplicate_keys"`
	// MissingCommitted counts transactions the API answered 201 for that
	// the journal does not hold: a 201 for an uncommitted write.
	MissingCommitted int64 `json:"missing_committed"`
	CommittedChecked int64 `json:"committed_checked"`
}

// InvariantInput is everything the checker looks at after a run.
type InvariantInput struct {
	Asset string
	// Before and After are balances read through the API for the run's own
	// wallets (seeded ones before; seeded and created ones after).
	Before map[string]int64
	After  map[string]int64
	// AdjustedNet is the signed sum of every adjustment the run committed
	// (outcomes a fault left unknown are settled first). Transfers move
	// money between the run's wallets, so After = Before + AdjustedNet.
	AdjustedNet int64
	// Audits are GET /balance/audit answers for the run's wallets.
	Audits      []client.BalanceAudit
	AuditErrors int
	// Retry checks made while the run streamed.
	RetryMismatches []string
	// MissingCommitted lists transaction IDs answered 201 that the API
	// cannot find afterwards (checked through the API when there is no DB).
	MissingCommitted []string
	DB               *DBFacts
}

// InvariantResult is the verdict with the figures it was reached on.
type InvariantResult struct {
	WalletsChecked int      `json:"wallets_checked"`
	BeforeTotal    int64    `json:"before_total"`
	AfterTotal     int64    `json:"after_total"`
	AdjustedNet    int64    `json:"adjusted_net"`
	AuditsChecked  int      `json:"audits_checked"`
	Violations     []string `json:"violations"`
	DB             *DBFacts `json:"db,omitempty"`
}

// CheckInvariants applies the ledger's promises to what a run observed:
// money is neither created nor lost, every audit agrees with the journal,
// no retried key took effect twice, and every 201 was really committed.
func CheckInvariants(in InvariantInput) InvariantResult {
	res := InvariantResult{WalletsChecked: len(in.After), AdjustedNet: in.AdjustedNet, AuditsChecked: len(in.Audits), DB: in.DB}
	var v []string
	for id, b := range in.Before {
		res.BeforeTotal += b
		if _, ok := in.After[id]; !ok {
			v = append(v, fmt.Sprintf("wallet %s had a balance before the run but none after", id))
		}
	}
	for _, b := range in.After {
		res.AfterTotal += b
	}
	if want := res.BeforeTotal + in.AdjustedNet; res.AfterTotal != want {
		v = append(v, fmt.Sprintf("money not conserved for %s: wallets hold %d after, want %d (before %d + adjustments %d): %+d",
			in.Asset, res.AfterTotal, want, res.BeforeTotal, in.AdjustedNet, res.AfterTotal-want))
	}
	for _, a := range in.Audits {
		if !a.Consistent || a.ProjectedBalance != a.JournalBalance {
			v = append(v, fmt.Sprintf("audit of wallet %s inconsistent: projected %d, journal %d", a.WalletID, a.ProjectedBalance, a.JournalBalance))
		}
		if b, ok := in.After[a.WalletID]; ok && b != a.ProjectedBalance {
			// Reads were taken after the run stopped writing: they must agree.
			v = append(v, fmt.Sprintf("wallet %s: balance %d but audit projected %d", a.WalletID, b, a.ProjectedBalance))
		}
	}
	if in.AuditErrors > 0 {
		v = append(v, fmt.Sprintf("%d audits could not be read", in.AuditErrors))
	}
	v = append(v, in.RetryMismatches...)
	for _, id := range in.MissingCommitted {
		v = append(v, fmt.Sprintf("transaction %s was answered 201 but is not in the ledger", id))
	}
	if db := in.DB; db != nil {
		for _, asset := range sortedKeys(db.BalanceSums) {
			if s := db.BalanceSums[asset]; s != 0 {
				v = append(v, fmt.Sprintf("database: balances of %s (system wallets included) sum to %d, want 0", asset, s))
			}
		}
		for _, asset := range sortedKeys(db.JournalSums) {
			if s := db.JournalSums[asset]; s != 0 {
				v = append(v, fmt.Sprintf("database: journal entries of %s sum to %d, want 0", asset, s))
			}
		}
		if db.ProjectionMismatches > 0 {
			v = append(v, fmt.Sprintf("database: %d wallets' projections differ from their journal", db.ProjectionMismatches))
		}
		if db.UnbalancedTransactions > 0 {
			v = append(v, fmt.Sprintf("database: %d transactions do not balance", db.UnbalancedTransactions))
		}
		if db.DuplicateKeys > 0 {
			v = append(v, fmt.Sprintf("database: %d idempotency keys took effect more than once", db.DuplicateKeys))
		}
		if db.MissingCommitted > 0 {
			v = append(v, fmt.Sprintf("database: %d transactions answered 201 are not in the journal", db.MissingCommitted))
		}
	}
	if len(v) > 50 {
		v = append(v[:50], fmt.Sprintf("... and %d more", len(v)-50))
	}
	res.Violations = v
	return res
}

func sortedKeys(m map[string]int64) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
