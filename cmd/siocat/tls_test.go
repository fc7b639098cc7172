package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siostream/siostream/internal/sioserver"
)

// selfSigned returns a server certificate for 127.0.0.1 and the path of
// its PEM file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "siocat test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
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
