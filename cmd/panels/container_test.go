package main

// No Docker engine runs here, so the container files are checked statically: both parse, the
// image is multi-stage, static and non-root, and every command they run is a subcommand of this
// binary at the path the image puts it.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func repoFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// instruction is one Dockerfile instruction with continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

func parseDockerfile(t *testing.T, src []byte) []instruction {
	t.Helper()
	known := map[string]bool{"FROM": true, "RUN": true, "CMD": true, "LABEL": true, "EXPOSE": true, "ENV": true, "ADD": true,
		"COPY": true, "ENTRYPOINT": true, "VOLUME": true, "USER": true, "WORKDIR": true, "ARG": true, "ONBUILD": true,
		"STOPSIGNAL": true, "HEALTHCHECK": true, "SHELL": true}
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cmd = strings.ToUpper(cmd)
		if !known[cmd] {
			t.Errorf("Dockerfile:%d: unknown instruction %q", start, cmd)
		}
		out = append(out, instruction{cmd: cmd, args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Errorf("Dockerfile:%d: continuation line never ends", start)
	}
	return out
}

// execForm parses a JSON-array (exec form) command; shell form is refused: the final image has no shell.
func execForm(t *testing.T, where, args string) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("%s: %q is not an exec-form command (the distroless image has no shell)", where, args)
	}
	return argv
}

// assertSubcommand fails unless name is a subcommand of this binary (its --help works).
func assertSubcommand(t *testing.T, where, name string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run([]string{name, "--help"}, func(string) string { return "" }, &out, &errOut)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		t.Errorf("%s runs `panels %s`, which is not a subcommand: %v", where, name, err)
	}
	if !strings.Contains(out.String()+errOut.String(), "Usage") {
		t.Errorf("%s runs `panels %s`, which prints no usage", where, name)
	}
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, repoFile(t, "Dockerfile"))
	var stages []int // index of each FROM
	for i, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, i)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	final := ins[stages[len(stages)-1]:]

	// The build stage uses the Go release go.mod asks for, and builds a static binary.
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(repoFile(t, "go.mod"))
	builder := ins[stages[0]].args
	if goVersion == nil || !strings.Contains(builder, "golang:"+string(goVersion[1])) {
		t.Errorf("build stage %q does not use Go %s from go.mod", builder, goVersion[1])
	}
	static := false
	for _, in := range ins[:stages[len(stages)-1]] {
		if in.cmd == "RUN" && strings.Contains(in.args, "CGO_ENABLED=0") && strings.Contains(in.args, "go build") &&
			strings.Contains(in.args, "./cmd/panels") {
			static = true
		}
	}
	if !static {
		t.Error("no RUN builds ./cmd/panels with CGO_ENABLED=0")
	}

	binary, user := "", ""
	var entrypoint, cmd, health []string
	for _, in := range final {
		switch in.cmd {
		case "COPY":
			if strings.HasPrefix(in.args, "--from=") {
				f := strings.Fields(in.args)
				binary = f[len(f)-1]
			}
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = execForm(t, "ENTRYPOINT", in.args)
		case "CMD":
			cmd = execForm(t, "CMD", in.args)
		case "HEALTHCHECK":
			_, c, ok := strings.Cut(in.args, "CMD ")
			if !ok {
				t.Fatalf("HEALTHCHECK %q has no CMD", in.args)
			}
			health = execForm(t, "HEALTHCHECK", c)
		}
	}
	if binary == "" {
		t.Fatal("the final stage copies no binary from the build stage")
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("the final stage runs as %q; want a non-root user", user)
	}
	if len(entrypoint) != 1 || entrypoint[0] != binary {
		t.Errorf("ENTRYPOINT %v should be the binary %s", entrypoint, binary)
	}
	if len(cmd) == 0 {
		t.Fatal("no CMD: the container would print the usage and exit")
	}
	assertSubcommand(t, "CMD", cmd[0])
	if len(health) < 2 || health[0] != binary {
		t.Fatalf("HEALTHCHECK %v should run %s itself (no curl in the image)", health, binary)
	}
	assertSubcommand(t, "HEALTHCHECK", health[1])

	// Secrets and build output stay out of the build context.
	ignored := string(repoFile(t, ".dockerignore"))
	for _, must := range []string{".env", ".git", "bin/"} {
		if !regexp.MustCompile(`(?m)^/?` + regexp.QuoteMeta(must) + `$`).MatchString(ignored) {
			t.Errorf(".dockerignore does not exclude %s", must)
		}
	}
}

func TestComposeFile(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(repoFile(t, "compose.yaml")))
	if err := dec.Decode(&compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	images := map[string]string{}
	for name, s := range compose.Services {
		images[name] = s.Image
	}
	if images["postgres"] != "postgres:15" || images["redis"] != "redis:7" {
		t.Errorf("want postgres:15 and redis:7, got %v", images)
	}
	svc, ok := compose.Services["panels"]
	if !ok || svc.Build == nil {
		t.Fatal("compose.yaml has no panels service built from the Dockerfile")
	}
	for _, dep := range []string{"postgres", "redis"} {
		if svc.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("panels should wait for %s to be healthy", dep)
		}
	}
	for _, v := range []string{"DATABASE_URL", "REDIS_URL", "JWT_SECRET"} {
		if svc.Environment[v] == "" {
			t.Errorf("panels service sets no %s", v)
		}
	}
	// `docker compose up` must work with nothing set, and the secret that makes it so must say
	// it is for development only, in its value, which is what ends up in a copied .env or log.
	if secret := svc.Environment["JWT_SECRET"]; !strings.Contains(secret, ":-dev-only-") {
		t.Errorf("JWT_SECRET should default to a value marked dev-only, got %q", secret)
	}
	if strings.Contains(svc.Environment["DATABASE_URL"], "127.0.0.1") || !strings.Contains(svc.Environment["REDIS_URL"], "redis:") {
		t.Error("the service must reach the database and Redis by their compose service names")
	}
	if len(svc.Command) == 0 {
		t.Fatal("panels service has no command")
	}
	assertSubcommand(t, "compose command", svc.Command[0])
	test := svc.Healthcheck.Test
	if len(test) < 3 || test[0] != "CMD" || filepath.Base(test[1]) != "panels" {
		t.Fatalf("panels healthcheck %v should run the binary itself", test)
	}
	assertSubcommand(t, "compose healthcheck", test[2])
	// The path must be where the Dockerfile puts the binary.
	if !strings.Contains(string(repoFile(t, "Dockerfile")), " "+test[1]+"\n") {
		t.Errorf("compose healthcheck runs %s, which the Dockerfile does not install", test[1])
	}
}
