// Command bench compares siostream with bare gobwas/ws (the floor: the
// socket work alone, no Socket.IO client), the zishang520/socket.io Go
// client and socket.io-client on Node.js, against the same local servers:
// receive and emit throughput, ack round-trip latency, memory and
// goroutines per idle connection, allocations per received event and per
// emit, and the size of siostream's Event. After the table it prints where
// siostream stands against its goals.
//
//	go run . -quick                      # every scenario, one short run
//	go run . -json results.json -chart receive.png
//
// Every server and every measured client runs in a process of its own;
// the bench binary re-executes itself with -serve for the load server and
// with -child for the Go clients.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		quick     = flag.Bool("quick", false, "one short run of every scenario (under a minute)")
		jsonOut   = flag.String("json", "", "also write the results as JSON to `FILE`")
		chartOut  = flag.String("chart", "", "write a bar chart of receive throughput to `FILE.png`")
		runs      = flag.Int("runs", 0, "runs per figure (median reported); 0 means 1 with -quick, else 5")
		only      = flag.String("only", "", "run only the scenario groups in this comma-separated `list` (receive,emit,ack,idle)")
		noNode    = flag.Bool("no-node", false, "skip socket.io-client and the Node reference server")
		serve     = flag.String("serve", "", "internal: run the load server in `MODE` (flood, echo, sink, idle)")
		serveN    = flag.Int("serve-n", 0, "internal: flood events per connection")
		serveSize = flag.Int("serve-size", 64, "internal: flood payload bytes")
		serveVar  = flag.String("serve-variant", "", "internal: flood variant (ack, recovery)")
		child     = flag.String("child", "", "internal: run one measurement given as JSON")
		cpuprof   = flag.String("child-cpuprofile", "", "with -child: write a CPU profile of the measurement to `FILE`")
		memprof   = flag.String("child-memprofile", "", "with -child: write a heap profile at the end of the measurement to `FILE`")
		render    = flag.String("render", "", "print the table of an earlier -json `FILE` (and with -chart, draw it) instead of measuring")
	)
	flag.Parse()
	if *render != "" {
		rows, err := readJSON(*render)
		if err == nil && *chartOut != "" {
			err = writeChart(*chartOut, rows)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		fmt.Print(markdownTable(rows))
		return 0
	}
	if *serve != "" {
		if err := runServer(serverConfig{Mode: *serve, N: *serveN, Size: *serveSize, Variant: *serveVar}); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			return 1
		}
		return 0
	}
	if *child != "" {
		return runChild(*child, *cpuprof, *memprof)
	}

	p := fullPlan()
	if *quick {
		p = quickPlan()
	}
	if *runs > 0 {
		p.Runs = *runs
	}
	if *only != "" {
		p.Only = splitList(*only)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer killChildren()

	env, err := setup(ctx, !*noNode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	start := time.Now()
	b := &bench{env: env, plan: p, redials: make(map[string]int)}
	b.runAll(ctx)
	rows := b.rows()
	fmt.Printf("\n%s\n", markdownTable(rows))
	for _, n := range b.notes {
		fmt.Println("- " + n)
	}
	for _, c := range []string{cSio, cZS, cNode} {
		if n := b.redials[c]; n > 0 {
			fmt.Printf("- %s: %d of its connection handshakes failed (timed out) and were made again, over all runs.\n", c, n)
		}
	}
	for _, n := range b.retried {
		fmt.Println("- idle run retried once after: " + n)
	}
	fmt.Printf("- %d run(s) per figure (median shown), %s in total.\n", p.Runs, time.Since(start).Round(100*time.Millisecond))
	code := 0
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, rows); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			code = 1
		}
	}
	if *chartOut != "" {
		if err := writeChart(*chartOut, rows); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			code = 1
		}
	}
	if len(b.failures) > 0 || ctx.Err() != nil {
		code = 1
	}
	return code
}

// environment is what the bench found on the machine.
type environment struct {
	self      string // this executable, re-executed for servers and Go clients
	dir       string // the bench module
	node      string // node binary, "" when absent
	nodeDir   string // bench/node, "" when socket.io-client cannot run
	refDir    string // testdata/refserver, "" when it cannot be used
	nodeNotes []string
}

func setup(ctx context.Context, wantNode bool) (*environment, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "node", "client.js")); err != nil {
		return nil, errors.New("run the bench from its own folder (bench/)")
	}
	env := &environment{self: self, dir: dir}
	if !wantNode {
		env.nodeNotes = append(env.nodeNotes, "socket.io-client and the Node reference server skipped (-no-node).")
		return env, nil
	}
	env.nodeDir = ""
	node, err := exec.LookPath("node")
	if err != nil {
		env.nodeNotes = append(env.nodeNotes, "node not found: socket.io-client and the Node reference server skipped.")
		return env, nil
	}
	env.node = node
	nodeDir := filepath.Join(dir, "node")
	if err := npmCI(ctx, nodeDir); err != nil {
		env.nodeNotes = append(env.nodeNotes, fmt.Sprintf("npm ci in bench/node failed (%v): socket.io-client skipped.", err))
	} else {
		env.nodeDir = nodeDir
	}
	ref := filepath.Join(dir, "..", "testdata", "refserver")
	if _, err := os.Stat(filepath.Join(ref, "server.js")); err != nil {
		env.nodeNotes = append(env.nodeNotes, "testdata/refserver not found: Node reference server skipped.")
	} else if err := npmCI(ctx, ref); err != nil {
		env.nodeNotes = append(env.nodeNotes, fmt.Sprintf("npm ci in testdata/refserver failed (%v): Node reference server skipped.", err))
	} else {
		env.refDir = ref
	}
	return env, nil
}

// npmCI installs the locked packages of dir when node_modules is missing.
func npmCI(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "npm ci in %s\n", dir)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := newCmd(ctx, dir, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Stdout = os.Stderr
	if !register(cmd) {
		return errors.New("shutting down")
	}
	defer unregister(cmd)
	return cmd.Run()
}

func splitList(s string) map[string]bool {
	m := make(map[string]bool)
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				m[s[start:i]] = true
			}
			start = i + 1
		}
	}
	return m
}
