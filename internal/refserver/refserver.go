// Package refserver starts the Node.js Socket.IO reference server found in
// testdata/refserver for interoperability tests.
//
// The server's namespaces, events and variants are documented in
// testdata/refserver/README.md. A typical test package uses it like this:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		refserver.StopAll()
//		os.Exit(code)
//	}
//
//	func TestEcho(t *testing.T) {
//		srv := refserver.Shared(t, refserver.Default)
//		// dial srv.URL ...
//	}
//
// The first start installs the server's npm dependencies (npm ci) when they
// are missing; installs from parallel test binaries are serialised by a lock
// file. Set SIOSTREAM_REFSERVER_DIR to use a server folder other than the one
// next to this source file.
package refserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Variant names accepted by Start and Shared. See README.md of the server
// for the options each one sets.
const (
	Default      = "default"      // socket.io defaults
	FastPing     = "fastping"     // pingInterval 300 ms, pingTimeout 200 ms
	SmallBuf     = "smallbuf"     // maxHttpBufferSize 2000
	Deflate      = "deflate"      // permessage-deflate, threshold 0
	Recovery     = "recovery"     // connection state recovery, 60 s
	ShortConnect = "shortconnect" // connectTimeout 1000 ms
)

const (
	startTimeout   = 30 * time.Second
	installTimeout = 5 * time.Minute
	lockTimeout    = 6 * time.Minute
	termGrace      = 2 * time.Second
)

// Server is a running reference server process.
type Server struct {
	URL     string // "http://127.0.0.1:PORT"
	Variant string
	Port    int

	cmd      *exec.Cmd
	stdin    *os.File // write end of the child's stdin; closing it stops the server
	stdout   *os.File // read end of the child's stdout
	stopOnce sync.Once
}

// Addr returns "127.0.0.1:PORT".
func (s *Server) Addr() string {
	return "127.0.0.1:" + strconv.Itoa(s.Port)
}

// WebSocketURL returns the Engine.IO v4 WebSocket endpoint of the server:
// "ws://127.0.0.1:PORT/socket.io/?EIO=4&transport=websocket".
func (s *Server) WebSocketURL() string {
	return "ws://" + s.Addr() + "/socket.io/?EIO=4&transport=websocket"
}

// Dir returns the folder holding server.js and package.json.
func Dir() (string, error) {
	if d := os.Getenv("SIOSTREAM_REFSERVER_DIR"); d != "" {
		if isServerDir(d) {
			return filepath.Abs(d)
		}
		return "", fmt.Errorf("refserver: SIOSTREAM_REFSERVER_DIR=%q holds no server.js", d)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		d := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "refserver")
		if isServerDir(d) {
			return filepath.Clean(d), nil
		}
	}
	// Built with -trimpath or moved: look upwards from the working
	// directory (go test runs in the package folder) for the module root.
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("refserver: %w", err)
	}
	for d := wd; ; {
		cand := filepath.Join(d, "testdata", "refserver")
		if fileExists(filepath.Join(d, "go.mod")) && isServerDir(cand) {
			return cand, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return "", errors.New("refserver: cannot find testdata/refserver (set SIOSTREAM_REFSERVER_DIR)")
}

func isServerDir(d string) bool {
	return fileExists(filepath.Join(d, "server.js")) && fileExists(filepath.Join(d, "package.json"))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Available reports whether node and npm can be found in PATH.
func Available() error {
	var missing []string
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("refserver: %s not found in PATH", strings.Join(missing, " and "))
	}
	return nil
}

// Start starts the server for the variant and returns once it printed its
// port (timeout 30 s). It runs `npm ci --no-audit --no-fund` in the server
// folder first when the dependencies are missing or out of date.
func Start(variant string) (*Server, error) {
	if variant == "" {
		variant = Default
	}
	if err := Available(); err != nil {
		return nil, err
	}
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	if err := ensureInstalled(dir); err != nil {
		return nil, err
	}
	return launch(dir, variant)
}

func launch(dir, variant string) (*Server, error) {
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("refserver: %w", err)
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return nil, fmt.Errorf("refserver: %w", err)
	}

	cmd := exec.Command("node", "server.js", variant)
	cmd.Dir = dir
	// *os.File values are handed to the child directly, so exec starts no
	// copying goroutines.
	cmd.Stdin = stdinR
	cmd.Stdout = stdoutW
	cmd.Stderr = os.Stderr
	err = cmd.Start()
	// The child holds its own copies now.
	stdinR.Close()
	stdoutW.Close()
	if err != nil {
		stdinW.Close()
		stdoutR.Close()
		return nil, fmt.Errorf("refserver: start node: %w", err)
	}

	s := &Server{Variant: variant, cmd: cmd, stdin: stdinW, stdout: stdoutR}
	port, err := readPort(stdoutR)
	if err != nil {
		s.Stop()
		if st := cmd.ProcessState; st != nil && !st.Success() {
			err = fmt.Errorf("%w (server %s)", err, st)
		}
		return nil, fmt.Errorf("refserver: variant %q: %w", variant, err)
	}
	s.Port = port
	s.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	return s, nil
}

// readPort reads the first line of the server's stdout, {"port":N}.
func readPort(r *os.File) (int, error) {
	if err := r.SetReadDeadline(time.Now().Add(startTimeout)); err != nil {
		return 0, err
	}
	var line []byte
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			line = append(line, buf[0])
			if len(line) > 4096 {
				return 0, errors.New("first output line too long")
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, fmt.Errorf("no port printed within %s", startTimeout)
			}
			if errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("server exited before listening (output %q)", line)
			}
			return 0, err
		}
	}
	_ = r.SetReadDeadline(time.Time{})
	var msg struct {
		Port int `json:"port"`
	}
	if err := json.Unmarshal(line, &msg); err != nil || msg.Port <= 0 {
		return 0, fmt.Errorf("unexpected first line %q", line)
	}
	return msg.Port, nil
}

// Stop kills the process and waits for it. It is safe to call more than
// once and on a nil Server.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	s.stopOnce.Do(s.stop)
}

func (s *Server) stop() {
	// End of stdin asks the server to exit; SIGTERM does too.
	s.stdin.Close()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = s.cmd.Process.Kill()
	}
	done := make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(done)
	}()
	timer := time.NewTimer(termGrace)
	select {
	case <-done:
		timer.Stop()
	case <-timer.C:
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.stdout.Close()
}

// ensureInstalled runs npm ci in dir unless node_modules already holds the
// socket.io version that package.json pins.
func ensureInstalled(dir string) error {
	if installed(dir) {
		return nil
	}
	unlock, err := lockInstall(dir)
	if err != nil {
		return err
	}
	defer unlock()
	// Another process may have installed while we waited for the lock.
	if installed(dir) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("refserver: npm ci in %s: %w\n%s", dir, err, tail(out.Bytes(), 4000))
	}
	if !installed(dir) {
		return fmt.Errorf("refserver: npm ci in %s left socket.io missing\n%s", dir, tail(out.Bytes(), 4000))
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// installed reports whether node_modules is complete and holds the pinned
// socket.io version.
func installed(dir string) bool {
	// npm writes this file at the end of a successful install.
	if !fileExists(filepath.Join(dir, "node_modules", ".package-lock.json")) {
		return false
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := readJSON(filepath.Join(dir, "package.json"), &pkg); err != nil {
		return false
	}
	var mod struct {
		Version string `json:"version"`
	}
	if err := readJSON(filepath.Join(dir, "node_modules", "socket.io", "package.json"), &mod); err != nil {
		return false
	}
	want := pkg.Dependencies["socket.io"]
	return mod.Version != "" && (want == "" || want == mod.Version)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// lockPath is the install lock for dir, outside the source tree.
func lockPath(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	var h uint32 = 2166136261
	for i := 0; i < len(abs); i++ {
		h ^= uint32(abs[i])
		h *= 16777619
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("siostream-refserver-%08x.lock", h))
}

var (
	sharedMu      sync.Mutex
	sharedServers = map[string]*Server{}
	sharedErrs    = map[string]error{}
)

// Shared returns a server for the variant shared by all tests of the
// package, started on first use. When node or npm are missing it skips the
// test, or fails it when the environment variable CI is "true". A start
// failure fails the test.
func Shared(tb testing.TB, variant string) *Server {
	tb.Helper()
	if variant == "" {
		variant = Default
	}
	if err := Available(); err != nil {
		msg := fmt.Sprintf("%v: the interop tests need Node.js >= 18 and npm; install them (and put them in PATH) to enable these tests", err)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s, ok := sharedServers[variant]; ok {
		return s
	}
	if err, ok := sharedErrs[variant]; ok {
		tb.Fatal(err)
	}
	s, err := Start(variant)
	if err != nil {
		sharedErrs[variant] = err
		tb.Fatal(err)
	}
	sharedServers[variant] = s
	return s
}

// StopAll stops every shared server. Call it from TestMain after m.Run and
// before leak checks. Shared starts fresh servers if called afterwards.
func StopAll() {
	sharedMu.Lock()
	servers := sharedServers
	sharedServers = map[string]*Server{}
	sharedErrs = map[string]error{}
	sharedMu.Unlock()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Stop()
		}()
	}
	wg.Wait()
}
