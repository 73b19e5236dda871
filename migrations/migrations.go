// Package migrations holds the numbered tern SQL migrations and applies them. It is the only code that changes the
// database schema; every binary embeds the files so the schema version it expects travels with it.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// VersionTable is tern's bookkeeping table.
const VersionTable = "schema_version"

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() fs.FS { return files }

// Expected is the schema version these binaries were built for: the number of embedded migrations.
func Expected() int32 {
	names, err := migrate.FindMigrations(files)
	if err != nil {
		// The files are embedded at build time; a broken set cannot be shipped past the tests.
		panic(fmt.Sprintf("migrations: embedded files are invalid: %v", err))
	}
	return int32(len(names))
}

// Apply brings the database at connString to the latest version. It holds tern's advisory lock, so concurrent
// callers (several pods starting at once) apply each migration once.
func Apply(ctx context.Context, connString string) error {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return fmt.Errorf("connect for migrations: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	m, err := newMigrator(ctx, conn)
	if err != nil {
		return err
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// Status returns the database's current schema version and the version the binary expects.
func Status(ctx context.Context, connString string) (current, expected int32, err error) {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return 0, 0, fmt.Errorf("connect for migration status: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	m, err := newMigrator(ctx, conn)
	if err != nil {
		return 0, 0, err
	}
	current, err = m.GetCurrentVersion(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	return current, int32(len(m.Migrations)), nil
}

func newMigrator(ctx context.Context, conn *pgx.Conn) (*migrate.Migrator, error) {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return nil, fmt.Errorf("create migrator: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return m, nil
}
