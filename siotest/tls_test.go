package siotest_test

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/siostream/siostream"
	"github.com/siostream/siostream/siotest"
)

func TestTLSServer(t *testing.T) {
	srv := siotest.NewTLSServer(siotest.Options{})
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", srv.URL())
	}
	if cert := srv.Certificate(); cert == nil || len(cert.IPAddresses) == 0 {
		t.Fatalf("Certificate %v", cert)
	}
	cfg := srv.ClientTLSConfig()
	if cfg == nil || cfg == srv.ClientTLSConfig() {
		t.Fatal("ClientTLSConfig is nil or shared between calls")
	}
	s := dial(t, srv.URL(), siostream.Options{TLSConfig: cfg})
	emit(t, s, "echo", "over tls", []byte{1})
	var text string
	decode(t, nextNamed(t, s, "echo"), &text)
	if text != "over tls" {
		t.Fatalf("echo %q", text)
	}

	_, err := siostream.Dial(testContext(t), srv.URL(), siostream.Options{TLSConfig: &tls.Config{}})
	if err == nil {
		t.Fatal("Dial without the server's certificate succeeded")
	}
}

func TestPlainServerHasNoCertificate(t *testing.T) {
	srv := newServer(t, siotest.Options{})
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %s", srv.URL())
	}
	if srv.Certificate() != nil || srv.ClientTLSConfig() != nil {
		t.Fatal("a plain server has TLS settings")
	}
}
