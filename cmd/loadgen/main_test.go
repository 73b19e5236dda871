package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A load run is never started by accident: with no arguments loadgen explains itself and loads nothing.
func TestNoArgumentsPrintUsage(t *testing.T) {
	var stderr strings.Builder
	assert.Equal(t, 2, run(context.Background(), nil, &stderr))
	assert.Contains(t, stderr.String(), "usage: loadgen")
	stderr.Reset()
	assert.Equal(t, 2, run(context.Background(), []string{"nonsense"}, &stderr))
	assert.Contains(t, stderr.String(), `unknown command "nonsense"`)
	stderr.Reset()
	assert.Equal(t, 2, run(context.Background(), []string{"run", "-scenario", "nope", "-scenarios", "../../load/data/scenarios.json"}, &stderr))
	assert.Contains(t, stderr.String(), `unknown scenario "nope"`)
	stderr.Reset()
	for _, n := range []string{"-1", "100000"} {
		stderr.Reset()
		assert.Equal(t, 2, run(context.Background(), []string{"run", "-procs", n}, &stderr))
		assert.Contains(t, stderr.String(), "-procs must be from 0 to", n)
	}
	for _, arg := range [][]string{{"-rate", "-5"}, {"-duration", "-5s"}} {
		stderr.Reset()
		assert.Equal(t, 2, run(context.Background(), append([]string{"run", "-scenarios", "../../load/data/scenarios.json"}, arg...), &stderr))
		assert.Contains(t, stderr.String(), "-rate and -duration must not be negative", arg)
	}
}
