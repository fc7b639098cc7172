package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream/internal/sioserver"
	"github.com/siostream/siostream/internal/testcert"
)

// selfSigned returns a server certificate for 127.0.0.1 and the path of
// its PEM file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	cert, err := testcert.SelfSigned(time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, testcert.PEM(cert), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, path
}

func TestCACert(t *testing.T) {
	t.Parallel()
	cert, caFile := selfSigned(t)
	srv := newServer(t, sioserver.Options{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		OnConnect: func(c *sioserver.Conn, ns string) { _ = c.Emit(ns, "secure", true) },
	})
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("server URL %s", srv.URL())
	}
	bogus := filepath.Join(t.TempDir(), "bogus.pem")
	if err := os.WriteFile(bogus, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		p := runSiocat(t, "", "--cacert", caFile, "--count", "1", srv.URL())
		p.wantCode(t, exitOK)
		if got := p.stdout.String(); got != `{"ns":"/","event":"secure","args":[true]}`+"\n" {
			t.Errorf("stdout: %s", got)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		p := runSiocat(t, "", "--count", "1", srv.URL())
		p.wantCode(t, exitConn)
	})
	t.Run("no certificate in file", func(t *testing.T) {
		t.Parallel()
		p := runSiocat(t, "", "--cacert", bogus, srv.URL())
		p.wantCode(t, exitUsage)
	})
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		p := runSiocat(t, "", "--cacert", bogus+".missing", srv.URL())
		p.wantCode(t, exitUsage)
	})
}
