package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	cmd  string // upper-cased keyword: FROM, RUN, ...
	args string
}

// parseDockerfile reads the repository's Dockerfile into instructions, dropping comments and parser
// directives and joining backslash continuations, as the Dockerfile frontend does.
func parseDockerfile(t *testing.T) []instruction {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatalf("read Dockerfile: %v", err)
	}
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || trimmed == "" {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() != 0 {
		t.Fatalf("Dockerfile ends inside a continuation: %q", cur.String())
	}
	return out
}

var binariesArg = regexp.MustCompile(`^BINARIES="([^"]*)"$`)

// dockerfileBinaries is the image's binary list: the ARG BINARIES the build stage loops over.
func dockerfileBinaries(t *testing.T) []string {
	t.Helper()
	for _, in := range parseDockerfile(t) {
		if m := binariesArg.FindStringSubmatch(in.args); in.cmd == "ARG" && m != nil {
			return strings.Fields(m[1])
		}
	}
	t.Fatal(`Dockerfile has no ARG BINARIES="..." line`)
	return nil
}

// Every process in cmd/ ships in the image and the image ships nothing that cmd/ lacks (a name without a
// folder would fail `docker build`). A folder still being written by someone else fails this test too,
// on purpose: until it builds, the image does not.
func TestDockerfileShipsEveryCommand(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), "cmd"))
	if err != nil {
		t.Fatalf("read cmd/: %v", err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	binaries := dockerfileBinaries(t)
	for _, b := range binaries {
		if !slices.Contains(dirs, b) {
			t.Errorf("Dockerfile builds %q but cmd/%s does not exist", b, b)
		}
	}
	for _, d := range dirs {
		if !slices.Contains(binaries, d) {
			t.Errorf("cmd/%s is not in the Dockerfile's BINARIES", d)
		}
	}
}

func TestDockerfileRuntimeImage(t *testing.T) {
	ins := parseDockerfile(t)
	var froms []int
	for i, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, i)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build (build, then runtime), got %d FROM", len(froms))
	}
	build, runtime := ins[:froms[len(froms)-1]], ins[froms[len(froms)-1]:]

	// Static binaries only: the runtime image has no libc.
	if !slices.ContainsFunc(build, func(in instruction) bool {
		return in.cmd == "ENV" && slices.Contains(strings.Fields(in.args), "CGO_ENABLED=0")
	}) {
		t.Error("build stage does not set ENV CGO_ENABLED=0")
	}
	base := runtime[0].args
	if !strings.HasPrefix(base, "gcr.io/distroless/static") || !strings.HasSuffix(base, ":nonroot") {
		t.Errorf("runtime image %q: want distroless static, nonroot variant", base)
	}
	var user string
	for _, in := range runtime {
		switch in.cmd {
		case "USER":
			user = in.args
		case "RUN":
			t.Errorf("runtime stage runs %q: distroless has no shell", in.args)
		case "COPY", "ADD":
			if !strings.Contains(in.args, "--from=") {
				t.Errorf("runtime stage copies from the build context (%s %s): only built binaries belong there", in.cmd, in.args)
			}
		}
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("runtime USER %q: want a non-root user", user)
	}
	if expose := strings.Join(instructionArgs(runtime, "EXPOSE"), " "); !strings.Contains(expose, "8080") || !strings.Contains(expose, "8081") {
		t.Errorf("runtime EXPOSE %q: want 8080 (wallet-api) and 8081 (relay)", expose)
	}

	// No secret may be baked into a layer or a build argument.
	secretName := regexp.MustCompile(`(?i)(SECRET|PASSWORD|TOKEN|DATABASE_URL|PRIVATE_KEY)`)
	for _, in := range ins {
		if (in.cmd == "ENV" || in.cmd == "ARG") && secretName.MatchString(in.args) {
			t.Errorf("Dockerfile %s %s looks like a secret", in.cmd, in.args)
		}
	}
}

// The builder image must be able to compile the module without a toolchain download.
func TestDockerfileGoVersionMatchesGoMod(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatalf("read go.mod: %v", err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	var arg string
	for _, in := range parseDockerfile(t) {
		if v, ok := strings.CutPrefix(in.args, "GO_VERSION="); in.cmd == "ARG" && ok {
			arg = v
		}
	}
	if arg != string(m[1]) {
		t.Errorf("Dockerfile ARG GO_VERSION=%q, want go.mod's %s (golang:<minor> tracks the newest patch)", arg, m[1])
	}
}

// Secrets and build outputs must stay out of the build context.
func TestDockerignoreKeepsSecretsOut(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil {
		t.Fatalf("read .dockerignore: %v", err)
	}
	lines := strings.Split(string(raw), "\n")
	for _, want := range []string{".git", ".env", "**/.env", "bin"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %q", want)
		}
	}
}

func instructionArgs(ins []instruction, cmd string) []string {
	var out []string
	for _, in := range ins {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}
