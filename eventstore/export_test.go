package eventstore

// The statements the lists run, for the plan tests of package eventstore_test.
var (
	WalletListQuery          = walletListQuery
	HoldListQuery            = holdListQuery
	MandateListQuery         = mandateListQuery
	WalletTransactionsQuery  = walletTransactionsQuery
	JournalTransactionsQuery = journalTransactionsQuery

	WalletTransactionsSettings = walletTransactionsSettings
)
