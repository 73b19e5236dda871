package command

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentic-commerce/wallet-ledger/eventstore"
)

func ptr[T any](v T) *T { return &v }

// A mandate's limit is per calendar period: a new period starts from zero, and a hold released in a later
// period than the one it was charged to gives nothing back (its charge went with its period).
func TestChargeAndGiveBackFollowThePeriod(t *testing.T) {
	monday := time.Date(2030, 1, 7, 10, 0, 0, 0, time.UTC)
	m := eventstore.Mandate{ID: uuid.New(), LimitAmount: ptr[int64](100), LimitPeriod: eventstore.PeriodDay,
		MaxPerTransaction: ptr[int64](80), CreatedAt: monday.Add(-time.Hour), ExpiresAt: monday.AddDate(1, 0, 0),
		Status: eventstore.MandateActive}
	m.PeriodStart = m.CurrentPeriod(monday)

	c, err := charge(m, 70, monday)
	require.NoError(t, err)
	assert.EqualValues(t, 70, c.SpentInPeriod)
	_, err = charge(*c, 31, monday)
	assert.ErrorIs(t, err, ErrMandateLimitExceeded, "31 more than the 30 left")
	_, err = charge(m, 81, monday)
	assert.ErrorIs(t, err, ErrMandateLimitExceeded, "over the per-transaction cap")

	tuesday := monday.Add(24 * time.Hour)
	assert.EqualValues(t, 0, c.SpentAt(tuesday), "a new day starts from zero")
	d, err := charge(*c, 80, tuesday)
	require.NoError(t, err)
	assert.EqualValues(t, 80, d.SpentInPeriod)
	assert.True(t, d.PeriodStart.Equal(time.Date(2030, 1, 8, 0, 0, 0, 0, time.UTC)))

	// Monday's hold released on Tuesday gives Tuesday nothing back; Tuesday's hold gives back.
	charged := c.PeriodStart
	assert.False(t, giveBack(d, &charged, 70, tuesday))
	assert.EqualValues(t, 80, d.SpentInPeriod)
	tuesdayCharge := d.PeriodStart
	assert.True(t, giveBack(d, &tuesdayCharge, 40, tuesday))
	assert.EqualValues(t, 40, d.SpentInPeriod)
	assert.False(t, giveBack(d, nil, 10, tuesday), "a hold made without the mandate charged nothing")
}

func TestPeriodStarts(t *testing.T) {
	created := time.Date(2029, 5, 5, 5, 5, 5, 0, time.UTC)
	sunday := time.Date(2030, 3, 17, 23, 59, 0, 0, time.UTC)
	assert.Equal(t, time.Date(2030, 3, 17, 0, 0, 0, 0, time.UTC), eventstore.PeriodStart(eventstore.PeriodDay, created, sunday))
	assert.Equal(t, time.Date(2030, 3, 11, 0, 0, 0, 0, time.UTC), eventstore.PeriodStart(eventstore.PeriodWeek, created, sunday), "weeks start on Monday")
	assert.Equal(t, time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC), eventstore.PeriodStart(eventstore.PeriodMonth, created, sunday))
	assert.Equal(t, created, eventstore.PeriodStart(eventstore.PeriodTotal, created, sunday))
	assert.Equal(t, created, eventstore.PeriodStart("", created, sunday), "no limit: one period")
}

func TestCheckMandate(t *testing.T) {
	now := time.Now()
	shop, other := uuid.New(), uuid.New()
	m := eventstore.Mandate{ID: uuid.New(), Status: eventstore.MandateActive, ExpiresAt: now.Add(time.Hour), AllowedDestinations: []uuid.UUID{shop},
		MaxPerTransaction: ptr[int64](10)}
	assert.NoError(t, checkMandate(m, &shop, now))
	assert.ErrorIs(t, checkMandate(m, &other, now), ErrDestinationNotAllowed)
	assert.ErrorIs(t, checkMandate(m, nil, now), ErrDestinationNotAllowed)
	assert.ErrorIs(t, checkMandate(m, &shop, now.Add(time.Hour)), ErrMandateInactive, "expired at expires_at")
	m.Status = eventstore.MandateRevoked
	assert.ErrorIs(t, checkMandate(m, &shop, now), ErrMandateInactive)
	// A mandate granted before caps were required is never read as unlimited.
	m.Status, m.MaxPerTransaction = eventstore.MandateActive, nil
	assert.ErrorIs(t, checkMandate(m, &shop, now), ErrMandateLimitExceeded)
}
