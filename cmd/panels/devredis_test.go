package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Without Redis, `serve --dev` must say plainly which shared features are off.
func TestDevModeSaysWhatIsOffWithoutRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private PostgreSQL: skipped under -short")
	}
	cmd := exec.Command(panelsBinary(t), "serve", "--dev")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PORT=" + strconv.Itoa(freePort(t)),
		"JWT_SECRET=" + faultSecret, "LOG_FORMAT=json", "DATABASE_URL=" + startPrivatePostgres(t).url(),
		"REDIS_URL=redis://127.0.0.1:" + strconv.Itoa(freePort(t))}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	want := []string{"shared response cache", "shared rate limits", "cross-instance wake-ups", "single instance correct"}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "Redis is down") {
				for _, w := range want {
					if !strings.Contains(line, w) {
						t.Errorf("the Redis line does not mention %q: %s", w, line)
					}
				}
				return
			}
		}
	}
	t.Fatalf("no line saying Redis is down within 30s:\n%s", logs.String())
}
