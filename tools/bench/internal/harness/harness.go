// Package harness is what the benchmark programs share: starting the service and other
// processes, waiting for them to be ready, stopping them, and failing with cleanups run.
package harness

import (
	"bytes"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Process is a program a benchmark started.
type Process struct {
	Cmd   *exec.Cmd
	URL   string // base URL of its HTTP listener
	Pprof string // base URL of the service's PPROF_ADDR listener ("" for other programs)
}

// StartService runs `bin serve` with env on free ports (the API's and PPROF_ADDR's) and waits
// until /healthz answers ready.
func StartService(bin string, env []string) *Process {
	addr, pprofAddr := FreeAddr(), FreeAddr()
	_, port, _ := net.SplitHostPort(addr)
	p := StartProcess(bin, []string{"serve"}, append(env, "PORT="+port, "PPROF_ADDR="+pprofAddr), "http://127.0.0.1:"+port, "/healthz")
	p.Pprof = "http://" + pprofAddr
	return p
}

// StartProcess runs bin and waits up to 30 s until url+ready answers 200; it fails with the
// program's output otherwise.
func StartProcess(bin string, args, env []string, url, ready string) *Process {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	Must(cmd.Start())
	p := &Process{Cmd: cmd, URL: url}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + ready); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.Stop()
	Fatalf("%s did not become ready:\n%s", bin, logs.String())
	return nil
}

// Stop interrupts the process and waits for it, killing it after 10 s. Stopping twice is fine.
func (p *Process) Stop() {
	if p.Cmd.Process == nil || p.Cmd.ProcessState != nil {
		return
	}
	_ = p.Cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-done
	}
}

// PeakRSS is the process's high-water resident set (VmHWM) in KiB, 0 when unknown. Read it
// before Stop.
func (p *Process) PeakRSS() int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			n, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return n
		}
	}
	return 0
}

// FreeAddr is a loopback address with a port nobody listens on right now.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Must(err)
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

// EnvOr is the environment's k, or def when it is empty.
func EnvOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Run runs a command with its output on stderr, failing when it fails.
func Run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	Must(cmd.Run())
}

// Must fails on a non-nil error.
func Must(err error) {
	if err != nil {
		Fatalf("%v", err)
	}
}

// cleanups stop the processes and drop the databases even when a run fails half-way.
var cleanups []func()

// AtExit registers f to run, last registered first, when Fatalf ends the program.
func AtExit(f func()) { cleanups = append(cleanups, f) }

// Fatalf logs, runs the cleanups and exits with status 1.
func Fatalf(format string, args ...any) {
	log.Printf(format, args...)
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.Exit(1)
}
