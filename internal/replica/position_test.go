package replica

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePositionAcceptsWhatPostgreSQLPrints(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Position
	}{
		{"0/0", 0},
		{"0/16B3748", 0x16B3748},
		{"16/B374D848", 0x16_B374D848},
		{"FFFFFFFF/FFFFFFFF", 1<<64 - 1},
		{"1/0", 1 << 32},
	} {
		p, err := ParsePosition(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, p, tc.in)
		assert.Equal(t, tc.in, p.String(), "round trip of %s", tc.in)
	}
}

func TestParsePositionRefusesEverythingElse(t *testing.T) {
	for _, in := range []string{
		"", "/", "0", "0/", "/0", "16/b374d848", "16/B374D84G", "016/B374D848", "16/0B374D848", "100000000/0",
		"0/100000000", " 0/1", "0/1 ", "0/1/2", "+1/0", "-1/0", "0x1/0", "1//0", "0/1\x00", "１/0", "0/1,0/2",
	} {
		_, err := ParsePosition(in)
		assert.ErrorIs(t, err, ErrInvalidPosition, "%q", in)
	}
}

func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"0/0", "16/B374D848", "FFFFFFFF/FFFFFFFF", "0/01", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePosition(s)
		if err != nil {
			return
		}
		// Only the canonical form is accepted, so what parses prints back identically.
		if p.String() != s {
			t.Fatalf("ParsePosition(%q) = %v, which prints as %q", s, p, p.String())
		}
	})
}
