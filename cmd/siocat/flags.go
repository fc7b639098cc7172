package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const usageText = `Usage: siocat [flags] URL
       siocat --demo [flags]

siocat connects to a Socket.IO server (WebSocket transport), prints every
event it receives on stdout as one JSON object per line, and sends the
events it reads on stdin. URL is http://, https://, ws:// or wss://.
As in socket.io-client, its path names the namespace
(https://example.com/admin joins /admin) unless it is /socket.io/, the
Engine.IO path; stderr then says so, and --namespace chooses the
namespace instead. Flags may come before or after URL.

Output (stdout), one line per received event:
  {"ns":"/realtime","event":"tick","args":[{"n":1}]}
  "args" is the JSON array of the event's arguments. When the server asks
  for an acknowledgement the line carries "ack":true and siocat answers it
  at once with no arguments (unless --no-auto-ack: then nothing answers).
  Binary attachments appear in "args" as base64 strings where the buffers
  stood, and "binary" counts them:
  {"ns":"/","event":"blob","args":["YmxvYgAAAAU="],"binary":1}

Input (stdin), one JSON array per line: ["event", arg...]
  Lines are sent in order once connected; while the connection is down
  they are buffered and sent after reconnecting. Blank lines are skipped.
  A line that is not a JSON array starting with a string is reported on
  stderr with its number ("siocat: stdin line 3: ...") and not sent;
  reading goes on. With --ack each line asks for an acknowledgement and
  waits for it, at most --ack-timeout, before the next line is sent; the
  reply is printed as {"ack":LINE,"args":[...]} where LINE is the stdin
  line number. When no reply comes in time, stderr says so
  ("siocat: stdin line 3: no ack within 10s (--ack-timeout), going on")
  and the next line is sent; a late reply is not printed.
  End of input only stops reading: siocat keeps receiving.

Status: connection changes go to stderr as readable lines
("siocat: connected to /realtime (sid ...)"), or with --json-status to
stdout as JSON lines:
  {"status":"connected","ns":"/","sid":"...","recovered":false}
  {"status":"disconnected","ns":"/","reason":"transport close","error":"..."}
  {"status":"reconnecting","ns":"/","attempt":1,"delay_ms":870}
  {"status":"connect_error","ns":"/","attempt":1,"error":"..."}

siocat runs until --count events were printed, --timeout has passed,
SIGINT or SIGTERM arrives (it then leaves the namespace politely), or the
connection ends for good. Auth and header values are never printed.

Flags:
  --namespace NS     namespace to join (default: the URL's path, else "/")
  --path PATH        Engine.IO endpoint path (default /socket.io/)
  --auth JSON        CONNECT auth payload, a JSON object
  --auth-cmd CMD     run "sh -c CMD" before every connect and reconnect and
                     use its stdout, a JSON object, as the auth payload (its
                     stdin is empty, its stderr is passed through)
  -H 'Name: value'   extra WebSocket handshake header (repeatable);
                     -H 'Host: name' replaces the Host header (TLS still
                     verifies the URL's host)
  --count N          exit after N printed events
  --timeout D        exit after D (e.g. 30s, 5m)
  --no-reconnect     end at the first lost connection instead of
                     reconnecting
  --cacert FILE      trust only the CA certificates in the PEM FILE for
                     https:// and wss://
  --compress         ask for permessage-deflate (the server may decline)
  --ack              send stdin lines asking for acks, print the replies
  --ack-timeout D    with --ack, wait at most D for each reply, then warn
                     and send the next line (default 10s; must be > 0)
  --no-auto-ack      leave the server's ack requests unanswered
  --json-status      report connection changes on stdout as JSON lines
  --demo             start a demo server on loopback inside siocat and
                     connect to it (no URL then)
  -h, --help         show this help

Exit status:
  0  clean end: --count reached, --timeout passed after connecting, signal,
     or the server ended the session (DISCONNECT)
  1  connection failure: the first connect failed, or the connection ended
     with an error (also when stdout cannot be written)
  2  usage error
  3  authentication rejected: the server refused the namespace CONNECT
     (a namespace the server does not have is exit 1)

Examples:
  siocat --demo --count 5
  siocat --namespace /realtime --auth-cmd './get-token' https://chat.example.com
  echo '["join","room1"]' | siocat --namespace /realtime https://chat.example.com
  echo '["ping",1]' | siocat --ack --ack-timeout 2s --timeout 5s -H 'Cookie: sid=abc' wss://example.com
  siocat -H 'Host: chat.internal' https://10.0.0.7/admin
`

// defaultAckTimeout is the default of --ack-timeout.
const defaultAckTimeout = 10 * time.Second

// config is the parsed command line.
type config struct {
	url         string
	namespace   string
	nsFromURL   bool   // namespace is the URL's path (no --namespace)
	ignoredPath string // URL path dropped for --namespace
	path        string
	auth        json.RawMessage
	authCmd     string
	headers     http.Header
	count       int
	timeout     time.Duration
	noReconnect bool
	cacert      string
	compress    bool
	demo        bool
	ack         bool
	ackTimeout  time.Duration
	noAutoAck   bool
	jsonStatus  bool
}

// headerFlags collects the raw -H values. Set never fails, so that the flag
// package never quotes a value (which may be a secret) in an error.
type headerFlags []string

func (h *headerFlags) String() string { return fmt.Sprintf("%d headers", len(*h)) }

func (h *headerFlags) Set(v string) error {
	*h = append(*h, v)
	return nil
}

// rawFlags are the flag values that need checking after parsing.
type rawFlags struct {
	auth      string
	headers   headerFlags
	namespace bool // --namespace was given
}

// parseFlags parses args (without the program name). It returns
// flag.ErrHelp for -h and --help.
func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	var raw rawFlags
	fs := newFlagSet(cfg, &raw)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { raw.namespace = raw.namespace || f.Name == "namespace" })
	if err := cfg.check(pos, &raw); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newFlagSet(cfg *config, raw *rawFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("siocat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&cfg.namespace, "namespace", "/", "")
	fs.StringVar(&cfg.path, "path", "", "")
	fs.StringVar(&raw.auth, "auth", "", "")
	fs.StringVar(&cfg.authCmd, "auth-cmd", "", "")
	fs.Var(&raw.headers, "H", "")
	fs.IntVar(&cfg.count, "count", 0, "")
	fs.DurationVar(&cfg.timeout, "timeout", 0, "")
	fs.BoolVar(&cfg.noReconnect, "no-reconnect", false, "")
	fs.StringVar(&cfg.cacert, "cacert", "", "")
	fs.BoolVar(&cfg.compress, "compress", false, "")
	fs.BoolVar(&cfg.demo, "demo", false, "")
	fs.BoolVar(&cfg.ack, "ack", false, "")
	fs.DurationVar(&cfg.ackTimeout, "ack-timeout", defaultAckTimeout, "")
	fs.BoolVar(&cfg.noAutoAck, "no-auto-ack", false, "")
	fs.BoolVar(&cfg.jsonStatus, "json-status", false, "")
	return fs
}

// parseInterspersed parses flags that may appear before and after the
// positional arguments, which it returns. Everything after "--" is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// check validates the parsed values and fills the derived fields.
func (c *config) check(pos []string, raw *rawFlags) error {
	if err := c.checkTarget(pos, raw.namespace); err != nil {
		return err
	}
	if c.count < 0 {
		return errors.New("--count must not be negative")
	}
	if c.timeout < 0 {
		return errors.New("--timeout must not be negative")
	}
	if c.ackTimeout <= 0 {
		return errors.New("--ack-timeout must be positive")
	}
	if raw.auth != "" && c.authCmd != "" {
		return errors.New("--auth and --auth-cmd are mutually exclusive")
	}
	if raw.auth != "" {
		if !isJSONObject([]byte(raw.auth)) {
			return errors.New("--auth: the value is not a JSON object")
		}
		c.auth = json.RawMessage(raw.auth)
	}
	h, err := parseHeaders(raw.headers)
	c.headers = h
	return err
}

// checkTarget checks the URL and takes its path off: as in
// socket.io-client, a path names the namespace, unless --namespace was
// given. The client gets the URL without a path, so that the Engine.IO
// path is --path or the default.
func (c *config) checkTarget(pos []string, namespaceGiven bool) error {
	switch {
	case len(pos) > 1:
		return fmt.Errorf("too many arguments (%d); want a single URL", len(pos))
	case c.demo && len(pos) == 1:
		return errors.New("--demo takes no URL")
	case c.demo:
		return nil
	case len(pos) == 0:
		return errors.New("missing URL")
	}
	u, err := checkURL(pos[0])
	if err != nil {
		return err
	}
	ns := u.Path
	u.Path, u.RawPath = "", ""
	c.url = u.String()
	switch {
	case !namesNamespace(ns):
	case !namespaceGiven:
		c.namespace, c.nsFromURL = ns, true
	case ns != "/"+strings.TrimPrefix(c.namespace, "/"):
		c.ignoredPath = ns
	}
	return nil
}

// namesNamespace reports whether a URL path names a namespace: any path
// but none, "/" and the default Engine.IO path.
func namesNamespace(path string) bool {
	switch path {
	case "", "/", "/socket.io", "/socket.io/":
		return false
	}
	return true
}

// checkURL parses a URL the client can dial. The message never quotes
// the URL, whose query or user info may carry credentials.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("the URL cannot be parsed")
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return nil, errors.New("the URL must start with http://, https://, ws:// or wss://")
	}
	if u.Host == "" {
		return nil, errors.New("the URL has no host")
	}
	return u, nil
}

// parseHeaders turns "Name: value" strings into a header. Errors name the
// position and never the value.
func parseHeaders(list []string) (http.Header, error) {
	if len(list) == 0 {
		return nil, nil
	}
	h := make(http.Header, len(list))
	for i, s := range list {
		name, value, ok := strings.Cut(s, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !validHeaderName(name) {
			return nil, fmt.Errorf("-H #%d: want 'Name: value'", i+1)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, fmt.Errorf("-H #%d (%s): the value holds a control character", i+1, name)
		}
		if strings.EqualFold(name, "Host") {
			switch {
			case value == "":
				return nil, fmt.Errorf("-H #%d: Host needs a value", i+1)
			case h.Get("Host") != "":
				return nil, fmt.Errorf("-H #%d: Host given twice", i+1)
			}
		}
		h.Add(name, value)
	}
	return h, nil
}

// validHeaderName reports whether name is an HTTP token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// isJSONObject reports whether b is one valid JSON object.
func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}
