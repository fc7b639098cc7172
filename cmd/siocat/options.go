package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/siostream/siostream"
)

// authCmdWaitDelay bounds how long an auth command's leftover children may
// hold its output pipes open after it exits or is cancelled.
const authCmdWaitDelay = 2 * time.Second

// streamOptions builds the client options. Errors are usage errors (an
// unreadable --cacert file). stderr receives the auth command's stderr.
func (c *config) streamOptions(stderr io.Writer) (siostream.Options, error) {
	opts := siostream.Options{
		Namespace:   c.namespace,
		Path:        c.path,
		NoReconnect: c.noReconnect,
		Compression: c.compress,
		Auth:        c.authFunc(stderr),
		Header:      c.headerFunc(),
	}
	if c.cacert != "" {
		tc, err := loadCACert(c.cacert)
		if err != nil {
			return opts, err
		}
		opts.TLSConfig = tc
	}
	return opts, nil
}

// authFunc returns the Auth function for --auth or --auth-cmd, nil for
// neither.
func (c *config) authFunc(stderr io.Writer) func(context.Context) (any, error) {
	switch {
	case c.authCmd != "":
		command := c.authCmd
		return func(ctx context.Context) (any, error) {
			return runAuthCmd(ctx, command, stderr)
		}
	case c.auth != nil:
		payload := c.auth
		return func(context.Context) (any, error) { return payload, nil }
	}
	return nil
}

// runAuthCmd runs command with sh -c and returns its stdout, which must be
// a JSON object. Errors never quote the output: it may hold a token.
func runAuthCmd(ctx context.Context, command string, stderr io.Writer) (any, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Stdin = nil
	cmd.Stderr = stderr
	cmd.WaitDelay = authCmdWaitDelay
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("auth command: %w", err)
	}
	out = bytes.TrimSpace(out)
	if !isJSONObject(out) {
		return nil, fmt.Errorf("auth command: its output (%d bytes) is not a JSON object", len(out))
	}
	return json.RawMessage(out), nil
}

// headerFunc returns the Header function for the -H flags, nil for none.
func (c *config) headerFunc() func(context.Context) (http.Header, error) {
	if len(c.headers) == 0 {
		return nil
	}
	h := c.headers
	return func(context.Context) (http.Header, error) { return h.Clone(), nil }
}

// loadCACert returns a TLS configuration that trusts only the certificates
// of the PEM file.
func loadCACert(path string) (*tls.Config, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--cacert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("--cacert: no PEM certificate found in " + path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
