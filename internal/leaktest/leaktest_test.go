package leaktest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// Every test package of the repository checks for leaked goroutines: its TestMain goes through leaktest (Main or
// Check) or pgtest.Main, which calls Check. A package added without one fails here.
func TestEveryTestPackageChecksForLeaks(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
			return filepath.SkipDir
		}
		tests, err := filepath.Glob(filepath.Join(path, "*_test.go"))
		if err != nil || len(tests) == 0 {
			return err
		}
		checked++
		for _, f := range tests {
			src, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			s := string(src)
			if strings.Contains(s, "func TestMain(") && (strings.Contains(s, "leaktest.") || strings.Contains(s, "pgtest.Main(") ||
				strings.Contains(s, "{ Main(m) }")) {
				return nil
			}
		}
		t.Errorf("%s has tests but no TestMain that checks for leaked goroutines (leaktest.Main, leaktest.Check or pgtest.Main)", path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Errorf("found only %d test packages: the walk must have missed the repository", checked)
	}
}
